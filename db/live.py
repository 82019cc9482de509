"""The pipeline right now, as PostgreSQL sees it: queued work, workers, stuck jobs, previews.

The rows are the truth (Redis may have been flushed), so queue depth is counted from queued rows
and worker liveness from the heartbeats in `tts_worker`; the RQ view is shown beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from db.models import MaintenanceRun, Status, WorkerBeat
from db.narrations import MODELS


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
    branches = [
        select(m.priority, func.greatest(m.created_at, m.scheduled_at, m.next_attempt_at).label("due_since")).where(
            m.status == Status.QUEUED
        )
        for m in MODELS.values()
    ]
    rows = union_all(*branches).subquery()
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
    branches = [
        select(m.processed_by, literal(kind).label("kind"), m.id).where(
            m.processed_by.in_(names), or_(m.status == Status.PROCESSING, m.redo_state == "processing")
        )
        for kind, m in MODELS.items()
    ]
    held: dict[str, list[tuple[str, int]]] = {}
    for worker, kind, row_id in session.execute(union_all(*branches).order_by("kind", "id")):
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
    branches = [
        select(literal(kind).label("kind"), m.id, m.provider, m.processed_by, m.started_at).where(
            m.status == Status.PROCESSING, m.started_at < func.now() - older_than
        )
        for kind, m in MODELS.items()
    ]
    rows = union_all(*branches).subquery()
    return [StuckJob(*row) for row in session.execute(select(rows).order_by(rows.c.started_at).limit(limit))]


@dataclass(frozen=True)
class RecentFailures:
    provider: str
    failed: int
    finished: int


def recent_failures(session: Session, *, since: timedelta) -> list[RecentFailures]:
    """Per provider, jobs that finished (by `completed_at`) in the last `since`, and how many failed."""
    branches = [
        select(m.provider, m.status).where(
            m.status.in_((Status.COMPLETED, Status.FAILED)),
            m.completed_at >= func.now() - since,
            m.cancelled_at.is_(None),  # a person cancelling is not the pipeline failing
        )
        for m in MODELS.values()
    ]
    rows = union_all(*branches).subquery()
    query = (
        select(rows.c.provider, func.count().filter(rows.c.status == Status.FAILED), func.count())
        .group_by(rows.c.provider)
        .order_by(rows.c.provider)
    )
    return [RecentFailures(*row) for row in session.execute(query)]


def preview_bytes(session: Session) -> int:
    """Bytes of base64 previews kept in the narration rows (stored size, not decoded)."""
    total: Any = 0
    for m in MODELS.values():
        total += session.scalar(select(func.coalesce(func.sum(func.octet_length(m.base64_audio)), 0))) or 0
    return int(total)


def last_maintenance(session: Session) -> MaintenanceRun | None:
    return session.scalars(select(MaintenanceRun).order_by(MaintenanceRun.finished_at.desc()).limit(1)).first()
