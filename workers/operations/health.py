"""One snapshot of the pipeline's health: what the live panels show and the alerts are judged on.

Everything comes from PostgreSQL and the media store (folder or bucket); RQ's own view is added when Redis answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from db import live, monitoring
from db.engine import new_session
from db.models import MaintenanceRun
from db.narrations import now
from db.settings import Settings, get_settings
from db.window import Window
from workers.engine.budget import Budget, this_month
from workers.engine.store import media_store
from workers.operations.rq_status import RqStatus, rq_status
from workers.redis_connection import redis


@dataclass(frozen=True)
class Storage:
    media_bytes: int
    preview_bytes: int
    quota_bytes: int

    @property
    def used_fraction(self) -> float:
        return self.media_bytes / self.quota_bytes


def storage(settings: Settings | None = None) -> Storage:
    """Audio in the media store (MEDIA_ROOT or the bucket) and previews in the rows, against STORAGE_QUOTA_BYTES."""
    settings = settings or get_settings()
    with new_session() as session:
        previews = live.preview_bytes(session)
    return Storage(media_store().used_bytes(), previews, settings.storage_quota_bytes)


@dataclass(frozen=True)
class Health:
    checked_at: datetime
    queues: list[live.QueueDepth]
    workers: list[live.WorkerState]
    stuck: list[live.StuckJob]
    failures: list[monitoring.Failures]
    """Per provider, the jobs finished in the last ALERT_FAILURE_MINUTES (`monitoring.failure_share`)."""
    rq: RqStatus
    last_maintenance: MaintenanceRun | None
    budget: Budget | None = None
    """This month's spend against MONTHLY_BUDGET_USD, when one is set."""
    held: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    """(kind, row id) of the narrations each live worker holds now, by worker name."""

    @property
    def oldest_due_age(self) -> timedelta | None:
        """How long the longest-waiting due job has waited; None when nothing is due."""
        since = [q.oldest_due_since for q in self.queues if q.oldest_due_since is not None]
        return self.checked_at - min(since) if since else None

    @property
    def workers_alive(self) -> int:
        return sum(w.alive for w in self.workers)


def snapshot(settings: Settings | None = None) -> Health:
    """Read the live state once (a handful of small indexed queries and the RQ counts)."""
    settings = settings or get_settings()
    with new_session() as session:
        checked_at = now()
        beats = live.workers(session, dead_after=timedelta(seconds=settings.worker_dead_after_seconds))
        health = Health(
            checked_at=checked_at,
            queues=live.queue_depth(session),
            workers=beats,
            stuck=live.stuck_jobs(session, older_than=timedelta(seconds=settings.job_timeout_seconds)),
            failures=monitoring.failures(
                session,
                Window.last(timedelta(minutes=settings.alert_failure_minutes), now=checked_at),
                monitoring.HistoryFilters(),
            ),
            rq=rq_status(redis()),
            last_maintenance=live.last_maintenance(session),
            budget=this_month(settings),
            held=live.held_by(session, [w.name for w in beats if w.alive]),
        )
    return health
