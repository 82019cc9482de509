"""A queued narration's place in line and when it may start, for the card of a queued narration.

Counted from the rows, the way work is taken: due queued rows of both tables, highest priority
first, then oldest first (`lifecycle.queued_rows`, the reconciler's order). The estimate divides the
work ahead among the workers alive, at the median run time of the jobs that finished in the last
hour; with no such job, or no worker, the estimate is unknown rather than made up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import Session

from db.lifecycle import due_now
from db.models import Status, WorkerBeat
from db.narrations import MODELS, both, model_for, now

THROUGHPUT_WINDOW = timedelta(hours=1)
"""How far back the run times that time the queue reach: recent enough to reflect today's voices."""


@dataclass(frozen=True)
class Place:
    """Where a queued narration stands."""

    ahead: int
    """Due queued narrations a worker takes before this one."""
    running: int
    """Narrations being narrated right now (they hold workers)."""
    workers: int
    """Workers alive (a recent heartbeat)."""
    median_seconds: float | None
    """Median run time of the jobs that finished in the last hour; None: none did."""
    due_at: datetime | None
    """When a scheduled start or a retry's wait ends; None: it is due now."""

    @property
    def position(self) -> int:
        """1 = next."""
        return self.ahead + 1

    @property
    def wait(self) -> timedelta | None:
        """About how long until a worker starts it; None when that cannot be known honestly."""
        if self.due_at is not None or not self.workers or self.median_seconds is None:
            return None
        rounds = math.ceil(max(0, self.running + self.ahead + 1 - self.workers) / self.workers)
        return timedelta(seconds=rounds * self.median_seconds)


def _ahead(session: Session, kind: str, row_id: int, priority: int, created_at: datetime, stamp: datetime) -> int:
    total = 0
    for other_kind, model in MODELS.items():
        before = or_(
            model.priority > priority,
            and_(model.priority == priority, model.created_at < created_at),
            and_(model.priority == priority, model.created_at == created_at, model.id < row_id)
            if other_kind == kind
            else false(),  # a tie across the tables: either order is as likely
        )
        total += session.scalar(select(func.count()).where(due_now(model, stamp), before)) or 0
    return total


def _median_run_seconds(session: Session, stamp: datetime) -> float | None:
    runs = both(
        lambda k: select(func.extract("epoch", k.model.completed_at - k.model.started_at).label("seconds")).where(
            k.model.status == Status.COMPLETED,
            k.model.completed_at >= stamp - THROUGHPUT_WINDOW,
            k.model.started_at.is_not(None),
        )
    ).subquery()
    median = session.scalar(select(func.percentile_cont(0.5).within_group(runs.c.seconds)))
    return float(median) if median is not None else None


def place(session: Session, kind: str, row_id: int, *, dead_after: timedelta) -> Place | None:
    """The row's place in line; None when it is not queued (running, finished, or gone)."""
    model = model_for(kind)
    stamp = now()
    row = session.execute(
        select(model.priority, model.created_at, model.scheduled_at, model.next_attempt_at).where(
            model.id == row_id, model.status == Status.QUEUED
        )
    ).first()
    if row is None:
        return None
    priority, created_at, scheduled_at, next_attempt_at = row
    later = [t for t in (scheduled_at, next_attempt_at) if t is not None and t > stamp]
    running = sum(
        session.scalar(select(func.count()).where(m.status == Status.PROCESSING)) or 0 for m in MODELS.values()
    )
    workers = session.scalar(
        select(func.count()).where(WorkerBeat.stopped_at.is_(None), WorkerBeat.last_seen_at > func.now() - dead_after)
    )
    return Place(
        ahead=_ahead(session, kind, row_id, priority, created_at, stamp),
        running=running,
        workers=workers or 0,
        median_seconds=_median_run_seconds(session, stamp),
        due_at=max(later) if later else None,
    )
