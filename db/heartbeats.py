"""Worker heartbeats in PostgreSQL: who is alive, since when, under which lease.

Kept in the database rather than only in Redis, so that a flushed or restarted Redis cannot make
live workers look dead (and their rows be taken over and paid for twice).
"""

from __future__ import annotations

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.models import WorkerBeat


def beat(session: Session, *, name: str, host: str, pid: int, lease_key: int | None = None) -> None:
    """Say this worker is alive and which lease it holds (db/leases.py). What it runs is read from
    the rows it holds (db/live.held_by): a worker runs several jobs at once."""
    statement = insert(WorkerBeat).values(name=name, host=host, pid=pid, lease_key=lease_key)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[WorkerBeat.name],
            set_={"last_seen_at": func.now(), "current_job": None, "stopped_at": None, "lease_key": lease_key},
        )
    )
    session.commit()


def stopped(session: Session, *, name: str) -> None:
    session.execute(
        update(WorkerBeat)
        .where(WorkerBeat.name == name)
        .values(stopped_at=func.now(), current_job=None, last_seen_at=func.now())
    )
    session.commit()
