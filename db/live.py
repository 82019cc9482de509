"""The pipeline right now, as PostgreSQL sees it: queued work, workers, stuck jobs, previews.

The rows are the truth (Redis may have been flushed), so queue depth is counted from queued rows
and worker liveness from the heartbeats in `tts_worker`; the RQ view is shown beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, or_, select
from sqlalchemy.orm import Session

from db.models import MaintenanceRun, Status, WorkerBeat
from db.narrations import MODELS, both


@dataclass(frozen=True)
class QueueDepth:
    priority: int
    due: int
    """Queued and due now: waiting for a worker."""
    later: int
    """Queued for later: a scheduled start or a retry's backoff not reached yet."""
    oldest_due_since: datetime | None
    """When the longest-waiting due job became due (created, or its scheduled or retry time)."""


def queue_depth(session: Session) -> list[QueueDepth]:
    """Queued rows per priority (highest first); the partial index on queued rows serves it."""
    rows = both(
        lambda k: select(
            k.model.priority,
            func.greatest(k.model.created_at, k.model.scheduled_at, k.model.next_attempt_at).label("due_since"),
        ).where(k.model.status == Status.QUEUED)
    ).subquery()
    due = rows.c.due_since <= func.now()
    query = (
        select(
            rows.c.priority,
            func.count().filter(due),
            func.count().filter(~due),
            func.min(rows.c.due_since).filter(due),
        )
        .group_by(rows.c.priority)
        .order_by(rows.c.priority.desc())
    )
    return [QueueDepth(*row) for row in session.execute(query)]


@dataclass(frozen=True)
class WorkerState:
    name: str
    host: str
    pid: int
    started_at: datetime
    last_seen_at: datetime
    alive: bool


def workers(session: Session, *, dead_after: timedelta) -> list[WorkerState]:
    """Workers that have not said they stopped, freshest first; alive = a heartbeat within `dead_after`."""
    query = (
        select(
            WorkerBeat.name,
            WorkerBeat.host,
            WorkerBeat.pid,
            WorkerBeat.started_at,
            WorkerBeat.last_seen_at,
            WorkerBeat.last_seen_at > func.now() - dead_after,
        )
        .where(WorkerBeat.stopped_at.is_(None))
        .order_by(WorkerBeat.last_seen_at.desc())
    )
    return [WorkerState(*row) for row in session.execute(query)]


def held_by(session: Session, names: list[str]) -> dict[str, list[tuple[str, int]]]:
    """(kind, row id) of the narrations each named worker holds now, read from the rows themselves
    (`processing`, or a redo `processing`, under its name): a worker runs several jobs at once, and
    the rows, not its heartbeat, are the truth about which (served by the status and redo indexes)."""
    if not names:
        return {}
    rows = both(
        lambda k: select(k.model.processed_by, literal(k.name).label("kind"), k.model.id).where(
            k.model.processed_by.in_(names),
            or_(k.model.status == Status.PROCESSING, k.model.redo_state == "processing"),
        )
    )
    held: dict[str, list[tuple[str, int]]] = {}
    for worker, kind, row_id in session.execute(rows.order_by("kind", "id")):
        held.setdefault(str(worker), []).append((kind, row_id))
    return held


@dataclass(frozen=True)
class StuckJob:
    kind: str
    id: int
    provider: str
    processed_by: str | None
    started_at: datetime | None


def stuck_jobs(session: Session, *, older_than: timedelta, limit: int = 50) -> list[StuckJob]:
    """Jobs still `processing` long after they started (past the job timeout), oldest first."""
    rows = both(
        lambda k: select(
            literal(k.name).label("kind"), k.model.id, k.model.provider, k.model.processed_by, k.model.started_at
        ).where(k.model.status == Status.PROCESSING, k.model.started_at < func.now() - older_than)
    ).subquery()
    return [StuckJob(*row) for row in session.execute(select(rows).order_by(rows.c.started_at).limit(limit))]


def preview_bytes(session: Session) -> int:
    """Bytes of base64 previews kept in the narration rows (stored size, not decoded)."""
    total: Any = 0
    for m in MODELS.values():
        total += session.scalar(select(func.coalesce(func.sum(func.octet_length(m.base64_audio)), 0))) or 0
    return int(total)


def last_maintenance(session: Session) -> MaintenanceRun | None:
    return session.scalars(select(MaintenanceRun).order_by(MaintenanceRun.finished_at.desc()).limit(1)).first()
