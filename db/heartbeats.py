"""Worker heartbeats in PostgreSQL: who is alive, since when, and on what job.

Kept in the database rather than only in Redis, so that a flushed or restarted Redis cannot make
live workers look dead (and their rows be taken over and paid for twice).
"""

from __future__ import annotations

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.models import WorkerBeat


def beat(
    session: Session, *, name: str, host: str, pid: int, current_job: str | None, lease_key: int | None = None
) -> None:
    """Say this worker is alive, what it runs, and which lease it holds (db/leases.py)."""
    statement = insert(WorkerBeat).values(name=name, host=host, pid=pid, current_job=current_job, lease_key=lease_key)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[WorkerBeat.name],
            set_={"last_seen_at": func.now(), "current_job": current_job, "stopped_at": None, "lease_key": lease_key},
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
