"""History for the operations page: every aggregate computed in SQL, over both narration tables.

Each query is one UNION ALL of a story branch and a scene branch, with the time range and the
filters inside each branch (so the `created_at`, `status` and `provider` indexes serve them), and
the grouping outside. Every row is placed by its `created_at`: a job counts in the bucket in which
it was asked for, whatever happened to it later.

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
    cast,
    extract,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from db.models import CANCELLED, Chunk, Image, SceneAudio, Status, Story, StoryAudio
from db.narrations import MODELS
from db.window import Window

NarrationModel = type[StoryAudio] | type[SceneAudio]


@dataclass(frozen=True)
class Filters:
    """What the page narrows monitoring to; None means "any"."""

    provider: str | None = None
    model: str | None = None
    project_id: int | None = None


def _conditions(model: NarrationModel, window: Window, filters: Filters) -> list[ColumnElement[bool]]:
    conditions = list(window.contains(model.created_at))
    if filters.provider:
        conditions.append(model.provider == filters.provider)
    if filters.model:
        conditions.append(model.model_backend == filters.model)
    if filters.project_id is not None:
        if model is StoryAudio:
            conditions.append(StoryAudio.project_id == filters.project_id)
        else:  # a scene narration belongs to its image's story's project
            in_project = select(Image.id).join(Story, Story.id == Image.story_id)
            conditions.append(SceneAudio.image_id.in_(in_project.where(Story.project_id == filters.project_id)))
    return conditions


Columns = Callable[[str, NarrationModel], Sequence[Any]]


def _branches(
    window: Window, filters: Filters, columns: Columns, *where: Callable[[NarrationModel], Any]
) -> list[Select[Any]]:
    """The story and the scene branch, each filtered on its own."""
    return [
        select(*columns(kind, model)).where(*_conditions(model, window, filters), *(w(model) for w in where))
        for kind, model in MODELS.items()
    ]


def _both(window: Window, filters: Filters, columns: Columns, *where: Callable[[NarrationModel], Any]) -> Subquery:
    """UNION ALL of the story and scene branches."""
    return union_all(*_branches(window, filters, columns, *where)).subquery("narrations")


def _cancelled(model: NarrationModel) -> ColumnElement[bool]:
    return and_(model.status == Status.FAILED, model.cancelled_at.is_not(None))


def _failed(model: NarrationModel) -> ColumnElement[bool]:
    """Failed, not cancelled (for queries that read the rows' error text anyway: no index-only scan lost)."""
    return and_(model.status == Status.FAILED, model.cancelled_at.is_(None))


def _with_cancels(
    window: Window, filters: Filters, columns: Columns, *where: Callable[[NarrationModel], Any]
) -> Subquery:
    """`_both`, plus one more row per cancelled job, whose `status` column reads `cancelled`.

    `columns` must end with the status. A cancelled job so appears twice, as `failed` (from the
    index-only branch) and as `cancelled`: `failed` minus `cancelled` is what really failed.
    """

    def cancel_columns(kind: str, model: NarrationModel) -> Sequence[Any]:
        return (*columns(kind, model)[:-1], literal(CANCELLED).label("status"))

    branches = _branches(window, filters, columns, *where) + _branches(window, filters, cancel_columns, _cancelled)
    return union_all(*branches).subquery("narrations")


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


def status_over_time(session: Session, window: Window, filters: Filters) -> list[StatusCount]:
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
    """The failure rate, wherever it is shown: failed ÷ finished, where neither counts a cancel nor a
    job still queued or running; None when nothing finished."""
    return failed / finished if finished else None


@dataclass(frozen=True)
class ProviderCount:
    bucket: datetime
    provider: str
    jobs: int


def provider_over_time(session: Session, window: Window, filters: Filters) -> list[ProviderCount]:
    """Jobs asked for in each bucket, per provider."""
    rows = _both(window, filters, lambda _, m: (window.bucket_of(m.created_at).label("bucket"), m.provider))
    query = (
        select(rows.c.bucket, rows.c.provider, func.count())
        .group_by(rows.c.bucket, rows.c.provider)
        .order_by(rows.c.bucket, rows.c.provider)
    )
    return [ProviderCount(*row) for row in session.execute(query)]


@dataclass(frozen=True)
class FailureRate:
    bucket: datetime
    provider: str
    failed: int
    finished: int
    rate: float
    """`failure_share`: failed / finished, cancelled jobs and jobs still queued or running in neither."""


def failure_rate(session: Session, window: Window, filters: Filters) -> list[FailureRate]:
    """Per bucket and provider, the share of finished jobs that failed (a cancel is neither)."""
    rows = _with_cancels(
        window,
        filters,
        lambda _, m: (window.bucket_of(m.created_at).label("bucket"), m.provider, m.status),
        lambda m: m.status.in_((Status.COMPLETED, Status.FAILED)),
    )
    cancelled = func.count().filter(rows.c.status == CANCELLED)
    failed = func.count().filter(rows.c.status == Status.FAILED) - cancelled
    finished = func.count().filter(rows.c.status != CANCELLED) - cancelled
    query = (
        select(rows.c.bucket, rows.c.provider, failed, finished, cast(failed, Float) / finished)
        .group_by(rows.c.bucket, rows.c.provider)
        .having(finished > 0)  # only cancels: no rate to draw
        .order_by(rows.c.bucket, rows.c.provider)
    )
    return [FailureRate(*row) for row in session.execute(query)]


@dataclass(frozen=True)
class ErrorCount:
    message: str
    jobs: int
    last_seen: datetime


def top_errors(session: Session, window: Window, filters: Filters, *, limit: int = 10) -> list[ErrorCount]:
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
    session: Session, window: Window, filters: Filters, message: str, *, limit: int = 50
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


def latency(session: Session, window: Window, filters: Filters) -> list[Latency]:
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


def billed_characters(session: Session, window: Window, filters: Filters) -> list[Billed]:
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
    partial = [
        select(
            window.day_of(m.created_at).label("day"),
            m.provider,
            m.model_backend.label("model"),
            Chunk.characters_billed.label("characters"),
        )
        .join(Chunk, (Chunk.story_audio_id if m is StoryAudio else Chunk.scene_audio_id) == m.id)
        .where(*_conditions(m, window, filters), m.status != Status.COMPLETED, Chunk.characters_billed.is_not(None))
        for m in MODELS.values()
    ]
    both = union_all(select(completed), *partial).subquery("billed")
    query = (
        select(both.c.day, both.c.provider, both.c.model, func.sum(both.c.characters))
        .group_by(both.c.day, both.c.provider, both.c.model)
        .order_by(both.c.day, both.c.provider, both.c.model)
    )
    return [Billed(day, provider, model, int(total)) for day, provider, model, total in session.execute(query)]


@dataclass(frozen=True)
class AudioHours:
    day: datetime
    hours: float


def audio_hours(session: Session, window: Window, filters: Filters) -> list[AudioHours]:
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
