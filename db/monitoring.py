"""History for the operations page: every aggregate computed in SQL, over both narration tables.

Each query is one UNION ALL of a story branch and a scene branch (`db.narrations.both`), with the
time range and the filters inside each branch (so the `created_at`, `status` and `provider` indexes
serve them), and the grouping outside. A row is placed by its `created_at`: a job counts in the
bucket in which it was asked for, whatever happened to it later. The one exception is the failure
rate, which counts jobs when they finish (`failure_share` says why).

A cancelled job (Django's `failed` with `cancelled_at` set) is its own state, `cancelled`, and no
failure: it is in no failure rate and in no error list. The history index does not hold
`cancelled_at`, and reading it from every row would turn each index-only scan into a heap scan; so
the statuses are counted from the index as before, and a second, narrow branch finds the cancelled
rows (failed ones only, through the status index) whose count is then moved from `failed` to
`cancelled` (`_with_cancels`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    Subquery,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from db.models import CANCELLED, Chunk, Status
from db.narrations import NarrationKind, NarrationModel, Rows, both
from db.window import Window


@dataclass(frozen=True)
class HistoryFilters:
    """What the operations page narrows its history panels to; None means "any"."""

    provider: str | None = None
    model: str | None = None
    project_id: int | None = None
    """A narration's project is its story's (`db.narrations.NarrationKind`), as in the library."""


def _conditions(
    kind: NarrationKind, window: Window, filters: HistoryFilters, at: Callable[[NarrationModel], Any]
) -> list[ColumnElement[bool]]:
    model = kind.model
    conditions = list(window.contains(at(model)))
    if filters.provider:
        conditions.append(model.provider == filters.provider)
    if filters.model:
        conditions.append(model.model_backend == filters.model)
    if filters.project_id is not None:
        conditions.append(kind.in_project(filters.project_id))
    return conditions


Columns = Callable[[str, NarrationModel], Sequence[Any]]


def _created(model: NarrationModel) -> Any:
    return model.created_at


def _branch(
    window: Window,
    filters: HistoryFilters,
    columns: Columns,
    *where: Callable[[NarrationModel], Any],
    at: Callable[[NarrationModel], Any] = _created,
) -> Callable[[NarrationKind], Select[Any]]:
    """One kind's branch, filtered on its own table: rows whose `at` time is in the window."""

    def branch(kind: NarrationKind) -> Select[Any]:
        model = kind.model
        return select(*columns(kind.name, model)).where(
            *_conditions(kind, window, filters, at), *(w(model) for w in where)
        )

    return branch


def _both(
    window: Window,
    filters: HistoryFilters,
    columns: Columns,
    *where: Callable[[NarrationModel], Any],
    at: Callable[[NarrationModel], Any] = _created,
) -> Subquery:
    """UNION ALL of the story and scene branches."""
    return both(_branch(window, filters, columns, *where, at=at)).subquery("narrations")


def _cancelled(model: NarrationModel) -> ColumnElement[bool]:
    return and_(model.status == Status.FAILED, model.cancelled_at.is_not(None))


def _failed(model: NarrationModel) -> ColumnElement[bool]:
    """Failed, not cancelled (for queries that read the rows' error text anyway: no index-only scan lost)."""
    return and_(model.status == Status.FAILED, model.cancelled_at.is_(None))


def _with_cancels(
    window: Window, filters: HistoryFilters, columns: Columns, *where: Callable[[NarrationModel], Any]
) -> Subquery:
    """`_both`, plus one more row per cancelled job, whose `status` column reads `cancelled`.

    `columns` must end with the status. A cancelled job so appears twice, as `failed` (from the
    index-only branch) and as `cancelled`: `failed` minus `cancelled` is what really failed.
    """

    def cancel_columns(kind: str, model: NarrationModel) -> Sequence[Any]:
        return (*columns(kind, model)[:-1], literal(CANCELLED).label("status"))

    plain, cancels = _branch(window, filters, columns, *where), _branch(window, filters, cancel_columns, _cancelled)
    return union_all(both(plain), both(cancels)).subquery("narrations")


@dataclass(frozen=True)
class StatusCount:
    bucket: datetime
    queued: int
    processing: int
    completed: int
    failed: int
    """Failed by themselves: cancelled jobs are not in it."""
    cancelled: int

    @property
    def jobs(self) -> int:
        return self.queued + self.processing + self.completed + self.failed + self.cancelled


def status_over_time(session: Session, window: Window, filters: HistoryFilters) -> list[StatusCount]:
    """Jobs asked for in each bucket, by their state now (the stacked chart): cancelled on its own."""
    rows = _with_cancels(window, filters, lambda _, m: (window.bucket_of(m.created_at).label("bucket"), m.status))

    def count(state: str) -> ColumnElement[int]:
        return func.count().filter(rows.c.status == state)

    counts = [count(s) for s in (Status.QUEUED, Status.PROCESSING, Status.COMPLETED)]
    query = (
        select(rows.c.bucket, *counts, count(Status.FAILED) - count(CANCELLED), count(CANCELLED))
        .group_by(rows.c.bucket)
        .order_by(rows.c.bucket)
    )
    return [StatusCount(*row) for row in session.execute(query)]


def failure_share(failed: int, finished: int) -> float | None:
    """The failure rate, wherever it is shown (chart, CSV, headline, alert): failed ÷ finished, over
    the jobs that finished (by `completed_at`) in the period; a cancel is in neither, nor is a job
    still queued or running. None when nothing finished.

    By completion time, not creation time: a job fails when it finishes, so a period's rate is
    final once the period is over, and a retried failure (which finishes later than a success asked
    for at the same time) counts when it happens instead of lowering the rate of the latest minutes
    until it does. That is what an alert must judge, and the chart shows the same figure so the
    two never disagree. Cancels are out because a person cancelling is not the pipeline failing: a
    bulk cancel moves neither the chart nor the alert. (README, "Figures".)"""
    return failed / finished if finished else None


def _finished(model: NarrationModel) -> ColumnElement[bool]:
    """Finished by the failure rate's reckoning (`failure_share`): completed, or failed and not cancelled."""
    return and_(model.status.in_((Status.COMPLETED, Status.FAILED)), model.cancelled_at.is_(None))


def _completed_at(model: NarrationModel) -> Any:
    return model.completed_at


def _finished_rows(window: Window, filters: HistoryFilters, columns: Columns) -> Subquery:
    """The jobs that finished in the window (placed by `completed_at`, served by its index);
    `columns` must end with the status."""
    return _both(window, filters, columns, _finished, at=_completed_at)


def _as_narrated(model: NarrationModel) -> ColumnElement[str]:
    fallback = model.provider + literal(" (fallback)")
    return case((model.fell_back_from.is_(None), model.provider), else_=fallback).label("provider")


@dataclass(frozen=True)
class ProviderCount:
    bucket: datetime
    provider: str
    jobs: int


def provider_over_time(session: Session, window: Window, filters: HistoryFilters) -> list[ProviderCount]:
    """Jobs asked for in each bucket, per provider; those the project's fallback voice narrated are
    their own series ("local (fallback)"), so an account that failed shows as it happened."""
    rows = _both(window, filters, lambda _, m: (window.bucket_of(m.created_at).label("bucket"), _as_narrated(m)))
    query = (
        select(rows.c.bucket, rows.c.provider, func.count())
        .group_by(rows.c.bucket, rows.c.provider)
        .order_by(rows.c.bucket, rows.c.provider)
    )
    return [ProviderCount(*row) for row in session.execute(query)]


@dataclass(frozen=True)
class FailureRate:
    bucket: datetime
    """The bucket the jobs finished in (`completed_at`)."""
    provider: str
    failed: int
    finished: int
    rate: float
    """`failure_share`: failed / finished, cancelled jobs and jobs still queued or running in neither."""


def failure_rate(session: Session, window: Window, filters: HistoryFilters) -> list[FailureRate]:
    """Per bucket of completion time and provider, the share of finished jobs that failed (`failure_share`)."""
    rows = _finished_rows(
        window, filters, lambda _, m: (window.bucket_of(m.completed_at).label("bucket"), m.provider, m.status)
    )
    failed = func.count().filter(rows.c.status == Status.FAILED)
    query = (
        select(rows.c.bucket, rows.c.provider, failed, func.count(), cast(failed, Float) / func.count())
        .group_by(rows.c.bucket, rows.c.provider)
        .order_by(rows.c.bucket, rows.c.provider)
    )
    return [FailureRate(*row) for row in session.execute(query)]


@dataclass(frozen=True)
class Failures:
    provider: str
    failed: int
    finished: int
    """As `failure_share` counts them: finished in the window, cancels in neither."""


def failures(session: Session, window: Window, filters: HistoryFilters) -> list[Failures]:
    """Per provider, the jobs that finished in the window and how many failed: the alert's and the
    headline's figure, the same as the chart's (`failure_share`) summed over the window."""
    rows = _finished_rows(window, filters, lambda _, m: (m.provider, m.status))
    query = (
        select(rows.c.provider, func.count().filter(rows.c.status == Status.FAILED), func.count())
        .group_by(rows.c.provider)
        .order_by(rows.c.provider)
    )
    return [Failures(*row) for row in session.execute(query)]


@dataclass(frozen=True)
class ErrorCount:
    message: str
    jobs: int
    last_seen: datetime


def top_errors(session: Session, window: Window, filters: HistoryFilters, *, limit: int = 10) -> list[ErrorCount]:
    """The most frequent reasons failed jobs give, with how many jobs gave each (a cancel is no failure)."""
    rows = _both(window, filters, lambda _, m: (m.error_message, m.created_at), _failed)
    query = (
        select(func.coalesce(rows.c.error_message, "(no message)"), func.count(), func.max(rows.c.created_at))
        .group_by(rows.c.error_message)
        .order_by(func.count().desc(), rows.c.error_message)
        .limit(limit)
    )
    return [ErrorCount(*row) for row in session.execute(query)]


@dataclass(frozen=True)
class JobRef:
    """A job to look at: `kind #id` is what the library's search box takes."""

    kind: str
    id: int
    provider: str
    model: str
    created_at: datetime


def jobs_with_error(
    session: Session, window: Window, filters: HistoryFilters, message: str, *, limit: int = 50
) -> list[JobRef]:
    """The newest failed jobs that gave this reason (the "link" from the top-errors table)."""
    rows = _both(
        window,
        filters,
        lambda kind, m: (literal(kind).label("kind"), m.id, m.provider, m.model_backend, m.created_at),
        _failed,
        lambda m: func.coalesce(m.error_message, "(no message)") == message,
    )
    query = select(rows).order_by(rows.c.created_at.desc(), rows.c.id.desc()).limit(limit)
    return [JobRef(*row) for row in session.execute(query)]


@dataclass(frozen=True)
class Latency:
    provider: str
    jobs: int
    wait_p50: float | None
    wait_p95: float | None
    processing_p50: float | None
    processing_p95: float | None
    """Seconds. Wait: created → started (last attempt); processing: started → completed."""


def _seconds(later: Any, earlier: Any) -> ColumnElement[Any]:
    return extract("epoch", later - earlier)


def latency(session: Session, window: Window, filters: HistoryFilters) -> list[Latency]:
    """p50 and p95 of queue wait and of processing time, per provider, over jobs that started."""
    rows = _both(
        window,
        filters,
        lambda _, m: (
            m.provider,
            _seconds(m.started_at, m.created_at).label("wait"),
            _seconds(m.completed_at, m.started_at).label("processing"),
            m.status,
        ),
        lambda m: m.started_at.is_not(None),
    )
    done = rows.c.status == Status.COMPLETED  # a failure's processing time says little
    # One sort per measure: percentile_cont over an array of fractions returns an array.
    fractions = literal([0.5, 0.95], ARRAY(Float))
    query = (
        select(
            rows.c.provider,
            func.count(),
            func.percentile_cont(fractions).within_group(rows.c.wait),
            func.percentile_cont(fractions).within_group(rows.c.processing).filter(done),
        )
        .group_by(rows.c.provider)
        .order_by(rows.c.provider)
    )
    return [
        Latency(provider, jobs, *(wait or (None, None)), *(processing or (None, None)))
        for provider, jobs, wait, processing in session.execute(query)
    ]


@dataclass(frozen=True)
class Billed:
    day: datetime
    provider: str
    model: str
    characters: int


def billed_characters(session: Session, window: Window, filters: HistoryFilters) -> list[Billed]:
    """Characters billed per calendar day (display zone), provider and model.

    A completed job's bill is its `characters_billed` (the sum its chunks reported; for a row the
    Django app completed without one, a trigger stores the prompt's length). A job that did not
    complete may still have paid for some chunks: those are summed from `tts_chunk`, as long as the
    chunks are kept.
    """
    completed = _both(
        window,
        filters,
        lambda _, m: (
            window.day_of(m.created_at).label("day"),
            m.provider,
            m.model_backend.label("model"),
            m.characters_billed.label("characters"),
        ),
        lambda m: m.status == Status.COMPLETED,
    )

    def partial(kind: NarrationKind) -> Rows:
        m = kind.model
        return (
            select(
                window.day_of(m.created_at).label("day"),
                m.provider,
                m.model_backend.label("model"),
                Chunk.characters_billed.label("characters"),
            )
            .join(Chunk, kind.chunk_owner == m.id)
            .where(
                *_conditions(kind, window, filters, _created),
                m.status != Status.COMPLETED,
                Chunk.characters_billed.is_not(None),
            )
        )

    billed = union_all(select(completed), both(partial)).subquery("billed")
    query = (
        select(billed.c.day, billed.c.provider, billed.c.model, func.sum(billed.c.characters))
        .group_by(billed.c.day, billed.c.provider, billed.c.model)
        .order_by(billed.c.day, billed.c.provider, billed.c.model)
    )
    return [Billed(day, provider, model, int(total)) for day, provider, model, total in session.execute(query)]


@dataclass(frozen=True)
class AudioHours:
    day: datetime
    hours: float


def audio_hours(session: Session, window: Window, filters: HistoryFilters) -> list[AudioHours]:
    """Hours of narration completed, per calendar day (display zone) the jobs were asked for."""
    rows = _both(
        window,
        filters,
        lambda _, m: (window.day_of(m.created_at).label("day"), m.duration_seconds),
        lambda m: m.status == Status.COMPLETED,
    )
    query = (
        select(rows.c.day, func.coalesce(func.sum(rows.c.duration_seconds), 0.0) / 3600.0)
        .group_by(rows.c.day)
        .order_by(rows.c.day)
    )
    return [AudioHours(*row) for row in session.execute(query)]
