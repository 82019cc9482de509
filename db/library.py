"""The library: every narration, story and scene, newest first, filtered and paginated in SQL.

One UNION ALL over both narration tables, with every filter applied inside each branch so the
indexes on status, provider, created_at and the foreign keys serve them. The preview column is
never selected: a page of 50 rows must not drag 50 base64 files along.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from db import reviews
from db.models import CANCELLED, Project, Status, Story, Tag, Theme, User
from db.narrations import MODELS, NarrationKind, NarrationModel, both
from db.quality import Quality, condition, failing, flagged, verdict
from db.reviews import ReviewFilter

TITLE_PREVIEW = 80


@dataclass(frozen=True)
class Filters:
    """What a person can narrow the library by; None means "any"."""

    status: str | None = None
    """One of STATES."""
    provider: str | None = None
    model: str | None = None
    project_id: int | None = None
    story_id: int | None = None
    username: str | None = None
    """Who asked for it, by exact username: typed, not picked from a list, because `auth_user` holds
    the product's customers too and a list of them all would be read and sent on every run."""
    tag: str | None = None
    theme: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None
    """Text in the prompt, a row id (`123`, `story 123`, `scene 123`) or a task id."""
    quality: Quality | None = None
    """What the stored quality checks say (`db.quality`)."""
    review: ReviewFilter | None = None
    """Where a completed narration's review stands (`db.reviews`)."""


@dataclass(frozen=True)
class LibraryRow:
    kind: str
    id: int
    status: str
    cancelled_at: datetime | None
    provider: str
    model: str
    voice: str | None
    title: str | None
    """The story's title, or the scene's caption (None: the story was deleted)."""
    story_title: str | None
    """The story it belongs to (for a story narration, its own title again): a scene names its story."""
    username: str | None
    created_at: datetime
    duration_seconds: float | None
    qc_passed: bool | None = None
    """The quality checks' verdict; None when there is none to read (`db.quality`)."""
    qc_failing: tuple[str, ...] = ()
    """The failing checks' names ("true peak")."""
    qc_flagged: int = 0
    """How many passages the checks flagged."""
    story_id: int | None = None
    """The story it is of (None: deleted): its story board's."""
    review: str | None = None
    """Where its review stands (`db.reviews.Standing.state`), read for the page's rows only."""


_ROW_ID = re.compile(r"^\s*(?:(story|scene)\s*#?\s*)?#?(\d{1,18})\s*$", re.IGNORECASE)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _cut(text: str | None, most: int = TITLE_PREVIEW) -> str | None:
    """At most `most` characters, ending in "…" when cut: a long caption must not widen a page of rows.
    (Cut here, not in SQL: a CASE in the select list keeps PostgreSQL from dropping unused joins
    from the count, which made it six times slower at 100,000 rows.)"""
    return text if text is None or len(text) <= most else text[: most - 1] + "…"


def _in_state(model: NarrationModel, state: str) -> ColumnElement[bool]:
    """Rows in a state: `failed` means failed and not cancelled; `cancelled` the failed rows that were."""
    if state == CANCELLED:
        return (model.status == Status.FAILED) & model.cancelled_at.is_not(None)
    if state == Status.FAILED:
        return (model.status == Status.FAILED) & model.cancelled_at.is_(None)
    return model.status == state


def _branch(kind: NarrationKind, filters: Filters) -> Select[Any]:
    """One kind's matching rows with the columns a library row shows."""
    model = kind.model
    query = (
        select(
            literal(kind.name).label("kind"),
            model.id,
            model.status,
            model.cancelled_at,
            model.provider,
            model.model_backend.label("model"),
            model.voice_style.label("voice"),
            func.left(kind.title, TITLE_PREVIEW + 1).label("title"),  # one more: enough to tell it was cut
            func.left(Story.title, TITLE_PREVIEW + 1).label("story_title"),
            User.username,
            model.created_at,
            model.duration_seconds,
            Story.id.label("story_id"),
        )
        .select_from(model)
        .outerjoin(User, User.id == model.user_id)
    )
    # Its story (a story narration's through the replacement chain, so a story's filter lists its
    # whole history and a replaced narration still names its story).
    return kind.with_story(query).where(*_conditions(kind, filters))


def _counted(kind: NarrationKind, filters: Filters) -> Select[Any]:
    """One kind's matching rows with no column and no join: PostgreSQL still marks the columns of a
    join it removes as needed, so only a count that joins nothing can be read from an index alone
    (about 12 ms instead of 60 for 100,000 rows)."""
    return select(literal(1)).select_from(kind.model).where(*_conditions(kind, filters))


def _conditions(kind: NarrationKind, filters: Filters) -> list[ColumnElement[bool]]:
    """The filters as conditions on one kind's table alone (semi-joins, never joins)."""
    model = kind.model
    links = kind.tag_links
    conditions: list[ColumnElement[bool]] = []
    if filters.status:
        conditions.append(_in_state(model, filters.status))
    if filters.provider:
        conditions.append(model.provider == filters.provider)
    if filters.model:
        conditions.append(model.model_backend == filters.model)
    if filters.project_id is not None:
        conditions.append(kind.in_project(filters.project_id))
    if filters.story_id is not None:
        conditions.append(kind.in_story(filters.story_id))
    if username := (filters.username or "").strip():
        conditions.append(model.user_id.in_(select(User.id).where(User.username == username)))
    if filters.since is not None:
        conditions.append(model.created_at >= filters.since)
    if filters.until is not None:
        conditions.append(model.created_at < filters.until)
    if filters.theme:
        conditions.append(model.theme_id == select(Theme.id).where(Theme.name == filters.theme).scalar_subquery())
    if filters.quality:
        conditions.append(condition(model, filters.quality))
    if filters.review:
        conditions.append(reviews.condition(kind, filters.review))
    if filters.tag:
        conditions.append(
            exists().where(kind.tag_link_column == model.id, links.c.tag_id == Tag.id, Tag.name == filters.tag)
        )
    search = (filters.search or "").strip()
    if search:
        as_id = _ROW_ID.match(search)
        if as_id and as_id.group(1) and as_id.group(1).lower() != kind.name:
            conditions.append(literal(False))
        elif as_id:
            conditions.append(model.id == int(as_id.group(2)))
        else:
            pattern = f"%{_escape_like(search)}%"
            conditions.append(or_(model.prompt.ilike(pattern, escape="\\"), model.task_id == search))
    return conditions


def _newest(filters: Filters, count: int) -> Callable[[NarrationKind], Select[Any]]:
    """A branch's `count` newest matches: the index on created_at finds them without sorting the rest."""

    def newest(kind: NarrationKind) -> Select[Any]:
        model = kind.model
        top = _branch(kind, filters).order_by(model.created_at.desc(), model.id.desc()).limit(count).subquery()
        return select(top)

    return newest


def page(session: Session, filters: Filters, *, number: int = 1, size: int = 50) -> tuple[list[LibraryRow], int]:
    """One page of matching narrations (newest first) and how many match in all."""
    matches = both(lambda kind: _counted(kind, filters)).subquery()
    total = int(session.scalar(select(func.count()).select_from(matches)) or 0)
    newest = both(_newest(filters, number * size)).subquery()
    rows = session.execute(
        select(newest).order_by(newest.c.created_at.desc(), newest.c.id.desc()).limit(size).offset((number - 1) * size)
    ).all()
    found = [
        LibraryRow(**{**row._asdict(), "title": _cut(row.title), "story_title": _cut(row.story_title)}) for row in rows
    ]
    return _with_checks(session, found), total


def _with_checks(session: Session, rows: list[LibraryRow]) -> list[LibraryRow]:
    """The page's rows with what their quality checks say and where their reviews stand, read for
    those rows only: evaluated in the paging query, the JSON paths (and the review view) would run
    on every row the count and the sort pass over."""
    checks: dict[tuple[str, int], tuple[bool | None, tuple[str, ...], int]] = {}
    for kind, model in MODELS.items():
        ids = [row.id for row in rows if row.kind == kind]
        if not ids:
            continue
        query = select(model.id, verdict(model), failing(model), flagged(model)).where(model.id.in_(ids))
        for row_id, passed, failing_checks, count in session.execute(query):
            names = tuple(failing_checks) if isinstance(failing_checks, list) else ()  # strings only (the jsonpath)
            checks[kind, row_id] = (passed, names, int(count))
    reviewed = {kind: reviews.states(session, kind, [row.id for row in rows if row.kind == kind]) for kind in MODELS}
    return [
        replace(
            replace(row, qc_passed=found[0], qc_failing=found[1], qc_flagged=found[2])
            if (found := checks.get((row.kind, row.id)))
            else row,
            review=reviewed[row.kind].get(row.id),
        )
        for row in rows
    ]


def matching(session: Session, filters: Filters, *, limit: int) -> list[tuple[str, int]]:
    """(kind, id) of the `limit` newest matches: what a bulk action on a filtered library acts on."""
    found = both(_newest(filters, limit)).subquery()
    newest = select(found.c.kind, found.c.id).order_by(found.c.created_at.desc(), found.c.id.desc()).limit(limit)
    return [(str(kind), int(row_id)) for kind, row_id in session.execute(newest)]


@dataclass(frozen=True)
class FilterOptions:
    """What the library's filter lists offer: id → name, or plain names. Every list is of the desk's
    own data or bounded by a pick: never of `auth_user` (the product's customers; `Filters.username`)."""

    projects: dict[int, str]
    stories: dict[int, str]
    """Of the project picked; none until one is (a product's stories grow with its customers)."""
    tags: list[str]
    themes: list[str]


def filter_options(session: Session, *, project_id: int | None = None) -> FilterOptions:
    """The filter lists (see FilterOptions)."""
    stories: dict[int, str] = {}
    if project_id is not None:
        of_project = select(Story.id, Story.title).where(Story.project_id == project_id).order_by(Story.title)
        stories = {i: title for i, title in session.execute(of_project)}
    return FilterOptions(
        projects={i: name for i, name in session.execute(select(Project.id, Project.name).order_by(Project.name))},
        stories=stories,
        tags=list(session.scalars(select(Tag.name).order_by(Tag.name))),
        themes=list(session.scalars(select(Theme.name).order_by(Theme.name))),
    )
