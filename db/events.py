"""What happened to a narration after its first start, one row per event (`tts_event`).

A narration's own stamps say when it was created, first started and finished; everything later
(a retry, a cancel, a redo of a passage and its outcome, a requeue after a worker died) is an
event here, written in the same transaction as the change it records. Issue 15 grows this into
the full history of a narration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from db.models import Event, User


class What(StrEnum):
    RETRIED = "retried"
    CANCELLED = "cancelled"
    REQUEUED = "requeued"
    RESTARTED = "restarted"
    REDO_QUEUED = "redo_queued"
    REDO_STARTED = "redo_started"
    REDO_COMPLETED = "redo_completed"
    REDO_FAILED = "redo_failed"
    REDO_CANCELLED = "redo_cancelled"


@dataclass(frozen=True)
class Happened:
    """One event as the detail's timeline shows it."""

    at: datetime
    what: str
    passage: int | None
    username: str | None
    worker: str | None
    message: str | None

    @property
    def label(self) -> str:
        """A short line for the timeline: what, which passage, by whom."""
        words = self.what.replace("_", " ")
        if self.passage is not None:
            words = words.replace("redo", f"redo of passage {self.passage + 1}", 1)
        return f"{words} (by {self.username})" if self.username else words


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
) -> None:
    """Add an event; the caller commits it with the change it records."""
    session.execute(
        insert(Event).values(
            narration_kind=kind,
            narration_id=row_id,
            what=what.value,
            passage=passage,
            user_id=user_id,
            worker=worker,
            message=message,
        )
    )


def of_narration(session: Session, kind: str, row_id: int) -> list[Happened]:
    """A narration's events, oldest first."""
    query = (
        select(Event.at, Event.what, Event.passage, User.username, Event.worker, Event.message)
        .outerjoin(User, User.id == Event.user_id)
        .where(Event.narration_kind == kind, Event.narration_id == row_id)
        .order_by(Event.at, Event.id)
    )
    return [Happened(*row) for row in session.execute(query)]
