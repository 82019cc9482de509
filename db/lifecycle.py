"""A narration's state changes, each one conditional so that duplicates and races are no-ops.

The row is the source of truth and Redis only carries work: a job that arrives twice, or for a
row someone else already took, finds no row to claim and does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import Status
from db.narrations import model_for, now


@dataclass(frozen=True)
class ClaimedWork:
    """What a worker needs to synthesize a row it has claimed."""

    kind: str
    row_id: int
    prompt: str
    provider: str
    model: str
    voice: str | None
    attempt: int


def claim(session: Session, kind: str, row_id: int, *, worker: str) -> ClaimedWork | None:
    """Move a queued row to processing for this worker; None when it is not queued any more."""
    model = model_for(kind)
    stamp = now()
    claimed = session.execute(
        update(model)
        .where(model.id == row_id, model.status == Status.QUEUED)
        .values(
            status=Status.PROCESSING,
            started_at=stamp,
            updated_at=stamp,
            processed_by=worker,
            attempts=model.attempts + 1,
            error_message=None,
        )
        .returning(model.prompt, model.provider, model.model_backend, model.voice_style, model.attempts)
    ).first()
    session.commit()
    if claimed is None:
        return None
    prompt, provider, model_name, voice, attempt = claimed
    return ClaimedWork(kind, row_id, prompt, provider, model_name, voice, attempt)


def complete(
    session: Session,
    work: ClaimedWork,
    *,
    audio_file: str,
    base64_audio: str,
    duration_seconds: float,
    metadata: dict[str, Any],
) -> bool:
    """Record the audio of a row this worker still holds; False if it was taken away meanwhile."""
    model = model_for(work.kind)
    stamp = now()
    done = session.execute(
        update(model)
        .where(model.id == work.row_id, model.status == Status.PROCESSING)
        .values(
            status=Status.COMPLETED,
            audio_file=audio_file,
            base64_audio=base64_audio,
            duration_seconds=duration_seconds,
            audio_metadata=metadata,
            completed_at=stamp,
            updated_at=stamp,
            error_message=None,
        )
        .returning(model.id)
    ).first()
    session.commit()
    return done is not None


def fail(session: Session, work: ClaimedWork, message: str) -> None:
    """Mark the row failed with a sentence a person can act on."""
    model = model_for(work.kind)
    stamp = now()
    session.execute(
        update(model)
        .where(model.id == work.row_id, model.status == Status.PROCESSING)
        .values(status=Status.FAILED, error_message=message, updated_at=stamp, completed_at=stamp)
    )
    session.commit()


@dataclass(frozen=True)
class QueuedRow:
    """A queued row as the reconciler sees it."""

    row_id: int
    task_id: str | None
    priority: int
    created_at: datetime


def queued_rows(session: Session, kind: str, *, limit: int) -> list[QueuedRow]:
    """Queued rows due now, highest priority then oldest first (served by `ix_<table>_queued`)."""
    model = model_for(kind)
    stamp = now()
    query = (
        select(model.id, model.task_id, model.priority, model.created_at)
        .where(
            model.status == Status.QUEUED,
            (model.scheduled_at.is_(None)) | (model.scheduled_at <= stamp),
            (model.next_attempt_at.is_(None)) | (model.next_attempt_at <= stamp),
        )
        .order_by(model.priority.desc(), model.created_at)
        .limit(limit)
    )
    return [QueuedRow(*row) for row in session.execute(query)]


def set_task_id(session: Session, kind: str, row_id: int, task_id: str) -> None:
    model = model_for(kind)
    session.execute(update(model).where(model.id == row_id, model.status == Status.QUEUED).values(task_id=task_id))
