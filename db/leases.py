"""Worker leases: a PostgreSQL advisory lock per worker process, so a dead worker is seen at once.

Each worker holds a session-level advisory lock on a connection of its own (workers/engine/lease.py) and
records its key in `tts_worker.lease_key`. The server releases the lock the instant the process
dies (SIGKILL, OOM: the kernel closes its socket) or its connection does, so a row `processing`
under a worker whose lock is gone can be given back within seconds instead of after a 30 s silent
heartbeat (db/lifecycle.py `requeue_orphans`, which still applies to every worker as a backstop).
`pg_locks` says whether a lock is held without taking it, so looking has no side effect.

Two things also drop a live worker's lock, and the rule waits them out:
- its lease connection blinked: the worker re-takes the lock and then beats, on that connection
  (a heartbeat is only ever written while the lock is held), so the rule also wants the heartbeat
  older than `margin`, longer than a beat interval plus a reconnect;
- the server restarted, or failed over to a standby: every lock is gone at once, and live workers
  need a moment to take theirs again. The rule waits until the oldest lease connection in the
  database has been up for `grace`. Not `pg_postmaster_start_time()`: a standby promoted after a
  failover has been up for days, yet holds none of the old primary's locks.

A frozen process (SIGSTOP, a hung host that still answers TCP) keeps its lock, and through a pooler
in transaction mode (PgBouncer) the lock stays on a shared server connection: the heartbeat-age
rule is then the only one that acts, as before leases. Both err on the slow side, never the other.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import Connection, func, text, update
from sqlalchemy.orm import Session

from db.lifecycle import give_back
from db.models import WorkerBeat

APPLICATION_NAME = "narration-desk-lease"
"""The `application_name` of lease connections, by which the grace finds them in pg_stat_activity."""
LAPSED = "the worker's process ended (its lease lapsed)"
RESTARTED = "the worker's process ended (a process of the same name started)"
"""Why a row was given back, as its REQUEUED event says."""

_IN_FORCE = text(
    """
    SELECT min(backend_start) < now() - make_interval(secs => :grace) FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = :application
    """
)
_LAPSED_WORKERS = text(
    """
    SELECT w.name, w.lease_key FROM tts_worker AS w
    WHERE w.lease_key IS NOT NULL
      AND w.stopped_at IS NULL
      AND w.last_seen_at < now() - make_interval(secs => :margin)
      AND w.lease_key NOT IN (
          -- a bigint advisory key shows as its high half in classid, its low half in objid, objsubid 1
          SELECT (l.classid::bigint << 32) | l.objid::bigint FROM pg_locks AS l
          WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
    """
)


def new_key() -> int:
    """A fresh lock key: random, so workers on many machines need no coordination to pick one."""
    return secrets.randbits(62) + 1


def take(connection: Connection, key: int) -> bool:
    """Take the lease lock on this connection; False if another session holds that key."""
    taken = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
    connection.commit()  # a session-level lock outlives the transaction; leave none open
    return taken


def in_force(session: Session, *, grace: timedelta) -> bool:
    """Whether lapsed locks mean dead workers: some lease connection in this database has been up
    for `grace`. A restart or failover drops them all, so one that old means none dropped live
    workers' locks a moment ago."""
    windows = {"grace": grace.total_seconds(), "application": APPLICATION_NAME}
    return bool(session.scalar(_IN_FORCE, windows))


def take_over_lapsed(session: Session, *, margin: timedelta, grace: timedelta) -> list[tuple[str, int, str]]:
    """Give back the rows (and redos) of workers whose lease lapsed: lock not held and heartbeat
    older than `margin`, while leases are `in_force`. Their lease keys are cleared, so the next
    look does not find them again. Returns (kind, id, worker) of each row given back."""
    lapsed: dict[str, int] = {}
    if in_force(session, grace=grace):
        found = session.execute(_LAPSED_WORKERS, {"margin": margin.total_seconds()})
        lapsed = {name: int(key) for name, key in found}
    if not lapsed:
        session.commit()
        return []
    given_back = give_back(session, lambda processed_by: processed_by.in_(list(lapsed)), LAPSED)
    for name, key in lapsed.items():
        # Only while it is still that lapsed lease: a worker that came back has beaten since.
        session.execute(
            update(WorkerBeat)
            .where(WorkerBeat.name == name, WorkerBeat.lease_key == key, WorkerBeat.last_seen_at < func.now() - margin)
            .values(lease_key=None)
        )
    session.commit()
    return given_back


def give_back_namesake(session: Session, *, name: str) -> list[tuple[str, int, str]]:
    """Give back rows left `processing` under this worker's own name by a dead process of the same
    name (host and pid: a container restarted after an OOM kill gets both back). Only sound before
    this worker claims anything; its beat has just replaced the namesake's lease key, so neither
    rule would ever find those rows."""
    given_back = give_back(session, lambda processed_by: processed_by == name, RESTARTED)
    session.commit()
    return given_back
