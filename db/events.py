"""Everything that happened to a narration, one row per event (`tts_event`): its history.

A narration's own stamps say only when it was created, first started and last finished; every
attempt and every action is an event here (submitted, claimed, a passage retried, failed, completed,
cancelled, retried, duplicated, replaced, deleted, a redo and its outcome, a requeue after a worker
died), written in the same transaction as the change it records, with who (a person) or what (a
worker) did it. The table has no foreign key to the narration, so a deleted narration's history
stays readable; maintenance drops events older than EVENT_RETENTION_DAYS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Insert, delete, insert, select
from sqlalchemy.orm import Session

from db.engine import get_engine
from db.models import Event, User


class What(StrEnum):
    SUBMITTED = "submitted"
    CLAIMED = "claimed"
    PASSAGE_RETRIED = "passage_retried"
    ATTEMPT_FAILED = "attempt_failed"
    """An attempt failed for a reason that may pass (a timeout, a rate limit); it is retried later."""
    FAILED = "failed"
    COMPLETED = "completed"
    RETRIED = "retried"
    CANCELLED = "cancelled"
    DUPLICATED = "duplicated"
    REPLACED = "replaced"
    DELETED = "deleted"
    REVIEWED = "reviewed"
    LEXICON_APPLIED = "lexicon_applied"
    """The pronunciation entries (term → respelling, version) a narration or a redo was narrated with."""
    FELL_BACK = "fell_back"
    """The voice asked for failed for account reasons; the project's fallback voice narrates it."""
    REQUEUED = "requeued"
    REDO_QUEUED = "redo_queued"
    REDO_STARTED = "redo_started"
    REDO_COMPLETED = "redo_completed"
    REDO_FAILED = "redo_failed"
    REDO_CANCELLED = "redo_cancelled"


@dataclass(frozen=True)
class Happened:
    """One event as the narration's timeline and the operations page's list show it."""

    at: datetime
    what: str
    passage: int | None = None
    username: str | None = None
    worker: str | None = None
    message: str | None = None
    kind: str | None = None
    narration_id: int | None = None

    @property
    def label(self) -> str:
        """What happened, to which passage (1-based, as the Passages tab counts them)."""
        words = self.what.replace("_", " ")
        if self.passage is None:
            return words
        number = self.passage + 1
        if "passage" in words:
            return words.replace("passage", f"passage {number}", 1)
        if "redo" in words:
            return words.replace("redo", f"redo of passage {number}", 1)
        return f"{words} (passage {number})"

    @property
    def by(self) -> str:
        """Who did it: a person, or else the worker that did it for them; empty for neither."""
        return self.username or self.worker or ""


def record(
    session: Session,
    kind: str,
    row_id: int,
    what: What,
    *,
    passage: int | None = None,
    user_id: int | None = None,
    worker: str | None = None,
    message: str | None = None,
    at: datetime | None = None,
) -> None:
    """Add an event; the caller commits it with the change it records. `at`: the moment the row
    itself stamps for it (a submission's `created_at`), so both read the same; else the transaction's."""
    stamp = {"at": at} if at is not None else {}
    details = {"passage": passage, "user_id": user_id, "worker": worker, "message": message, **stamp}
    session.execute(_insert(kind, row_id, what, **details))


def _insert(kind: str, row_id: int, what: What, **details: Any) -> Insert:
    return insert(Event).values(narration_kind=kind, narration_id=row_id, what=what.value, **details)


_COLUMNS = (
    Event.at, Event.what, Event.passage, User.username, Event.worker, Event.message, Event.narration_kind,
    Event.narration_id,
)  # fmt: skip


def of_narration(session: Session, kind: str, row_id: int) -> list[Happened]:
    """A narration's events, oldest first."""
    query = (
        select(*_COLUMNS)
        .outerjoin(User, User.id == Event.user_id)
        .where(Event.narration_kind == kind, Event.narration_id == row_id)
        .order_by(Event.at, Event.id)
    )
    return [Happened(*row) for row in session.execute(query)]


def recent(
    session: Session,
    what: What | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[Happened]:
    """The newest events (in [since, until) when given), of one kind or of every kind, newest
    first (`ix_tts_event_what_at`, `ix_tts_event_at`): the operations page's list."""
    query = select(*_COLUMNS).outerjoin(User, User.id == Event.user_id).order_by(Event.at.desc(), Event.id.desc())
    if since is not None:
        query = query.where(Event.at >= since)
    if until is not None:
        query = query.where(Event.at < until)
    if what is not None:
        query = query.where(Event.what == what.value)
    return [Happened(*row) for row in session.execute(query.limit(limit))]


def record_now(kind: str, row_id: int, what: What, **details: Any) -> None:
    """Record an event on its own, outside any transaction: for what a worker's passage threads
    notice between the row's own changes (a passage retried). A lost event is not worth a stalled
    passage, so it commits as the chunk counters do (`db/chunks.py`)."""
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(_insert(kind, row_id, what, **details))


def prune(session: Session, before: datetime) -> int:
    """Delete the events older than `before` (maintenance, EVENT_RETENTION_DAYS); how many."""
    return len(session.execute(delete(Event).where(Event.at < before).returning(Event.id)).all())
