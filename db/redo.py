"""Redoing passages of a completed narration without touching its status or its audio meanwhile.

The row stays `completed`, with its audio file, preview and duration, from the click until the new
audio is ready: the Django app and every page see the narration they had. The redo lives beside it:
`redo_state` on the row (queued / processing, None when no redo is in flight) and `redo_*` on the
chunk (the new text, then the new audio, then the outcome people read: done / failed / cancelled).

The same discipline as db/lifecycle.py: a worker claims the redo conditionally (queued →
processing, stamping itself and the attempt), and every later write of that worker is fenced on
(status completed, redo_state processing, processed_by, attempts). The new audio and the passage's
new text and file are swapped in by one fenced transaction, so a worker that died or was
partitioned can never overwrite what its successor or a cancel did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, exists, select, update
from sqlalchemy.orm import Session

from db import events
from db.chunks import record_quality
from db.lifecycle import ClaimedWork, WrongState, claimed_columns, with_passage
from db.models import Chunk, Status
from db.narrations import kind_of, model_for, now

QUEUED, PROCESSING = "queued", "processing"
Replaced = list[tuple[Literal["audio", "chunk"], str]]
"""Files a completed redo replaced, each with its kind (as workers/engine/media.py names them)."""
DONE, FAILED, CANCELLED = "done", "failed", "cancelled"
IN_FLIGHT = (QUEUED, PROCESSING)


@dataclass(frozen=True)
class Passage:
    """A chunk as the redo job sees it: its current audio, and the text and file of its redo."""

    id: int
    idx: int
    text: str
    """The text to narrate: the redo's new text, or the passage's own when unchanged."""
    audio_path: str | None
    sample_rate: int | None
    seconds: float | None
    characters_billed: int | None
    provider_calls: int
    redone: bool
    redo_audio_path: str | None
    redo_sample_rate: int | None
    redo_seconds: float | None
    redo_characters_billed: int | None


def _fence(work: ClaimedWork) -> ColumnElement[bool]:
    model = model_for(work.kind)
    return and_(
        model.id == work.row_id,
        model.status == Status.COMPLETED,
        model.redo_state == PROCESSING,
        model.processed_by == work.worker,
        model.attempts == work.attempt,
    )


def _redoing(kind: str, row_id: int, *states: str) -> ColumnElement[bool]:
    return and_(kind_of(kind).owns(row_id), Chunk.redo_state.in_(states))


def in_flight(session: Session, kind: str, row_id: int) -> list[int]:
    """The passages (0-based) of a redo in flight, if any."""
    return list(session.scalars(select(Chunk.idx).where(_redoing(kind, row_id, *IN_FLIGHT)).order_by(Chunk.idx)))


def queue(
    session: Session, kind: str, row_id: int, idx: int, *, passage: str | None, task_id: str, user_id: int | None
) -> int:
    """Queue a redo of passage `idx` of a completed narration (with new text if given); returns the
    row's priority. Raises WrongState with the reason when the row is not completed, another redo
    of it is in flight, or it has no such passage."""
    return queue_several(session, kind, row_id, {idx: passage}, task_id=task_id, user_id=user_id)


def queue_several(
    session: Session, kind: str, row_id: int, edits: Mapping[int, str | None], *, task_id: str, user_id: int | None
) -> int:
    """Queue one redo of several passages (index → new text, or None to narrate it as it is): the
    worker narrates them one after another and re-joins once, so the narration changes once and
    re-masters once. Refused as a whole, as `queue` is, when any passage is missing."""
    model = model_for(kind)
    row = session.execute(
        select(model.status, model.redo_state, model.prompt).where(model.id == row_id).with_for_update()
    ).first()
    if row is None:
        raise WrongState(f"{kind.title()} narration #{row_id} does not exist.")
    if row.status != Status.COMPLETED:
        raise WrongState(f"{kind.title()} narration #{row_id} is {row.status}; only a completed one is redone so.")
    if row.redo_state is not None:
        busy = ", ".join(str(i + 1) for i in in_flight(session, kind, row_id)) or "?"
        raise WrongState(
            f"Passage {busy} of {kind} narration #{row_id} is already being narrated again; "
            "wait for it, or cancel that redo first."
        )
    if not edits:
        raise WrongState(f"No passage of {kind} narration #{row_id} was chosen to narrate again.")
    stored = list(session.scalars(select(Chunk).where(kind_of(kind).owns(row_id)).order_by(Chunk.idx)))
    by_index = {c.idx: c for c in stored}
    if missing := sorted(set(edits) - set(by_index)):
        raise WrongState(f"{kind.title()} narration #{row_id} has no chunk {', '.join(str(i + 1) for i in missing)}.")
    texts, prompt = [c.text for c in stored], row.prompt
    for idx in sorted(edits):
        chunk, passage = by_index[idx], edits[idx]
        new_text = passage if passage is not None and passage != chunk.text else None
        if new_text is not None:
            # refuses an edited-elsewhere text now; each edit applies to the text the earlier ones made
            prompt = with_passage(prompt, texts, idx, new_text)
            texts[stored.index(chunk)] = new_text
        chunk.redo_state, chunk.redo_text, chunk.redo_error = QUEUED, new_text, None
        chunk.redo_audio_path, chunk.redo_sample_rate, chunk.redo_seconds, chunk.redo_characters_billed = (
            None,
            None,
            None,
            None,
        )
    priority = session.execute(
        update(model)
        .where(model.id == row_id)
        .values(
            redo_state=QUEUED,
            attempts=0,
            next_attempt_at=None,
            task_id=task_id,
            updated_by_id=user_id,
            updated_at=now(),
        )
        .returning(model.priority)
    ).scalar_one()
    for idx in sorted(edits):
        events.record(session, kind, row_id, events.What.REDO_QUEUED, passage=idx, user_id=user_id)
    session.commit()
    return int(priority)


def claim(session: Session, kind: str, row_id: int, *, worker: str) -> tuple[ClaimedWork, list[Passage]] | None:
    """Take a queued redo for this worker; None when there is none (done, cancelled, or taken)."""
    model = model_for(kind)
    claimed = session.execute(
        update(model)
        .where(model.id == row_id, model.status == Status.COMPLETED, model.redo_state == QUEUED)
        .values(redo_state=PROCESSING, processed_by=worker, attempts=model.attempts + 1, next_attempt_at=None)
        .returning(*claimed_columns(model))
    ).first()
    if claimed is None:
        session.commit()
        return None
    work = ClaimedWork(kind=kind, row_id=row_id, worker=worker, **claimed._asdict())
    session.execute(update(Chunk).where(_redoing(kind, row_id, QUEUED, PROCESSING)).values(redo_state=PROCESSING))
    events.record(
        session,
        kind,
        row_id,
        events.What.REDO_STARTED,
        passage=_first(session, kind, row_id),
        worker=worker,
        message=f"attempt {work.attempt}",
    )
    session.commit()
    return work, passages(session, kind, row_id)


def _first(session: Session, kind: str, row_id: int) -> int | None:
    return session.scalar(select(Chunk.idx).where(_redoing(kind, row_id, *IN_FLIGHT)).order_by(Chunk.idx).limit(1))


def passages(session: Session, kind: str, row_id: int) -> list[Passage]:
    """Every passage of the narration, in order, with what its redo has so far."""
    rows = session.scalars(select(Chunk).where(kind_of(kind).owns(row_id)).order_by(Chunk.idx))
    return [
        Passage(
            c.id,
            c.idx,
            c.redo_text or c.text,
            c.audio_path,
            c.sample_rate,
            c.seconds,
            c.characters_billed,
            c.provider_calls,
            c.redo_state in IN_FLIGHT,
            c.redo_audio_path,
            c.redo_sample_rate,
            c.redo_seconds,
            c.redo_characters_billed,
        )
        for c in rows
    ]


def interruption(session: Session, work: ClaimedWork) -> str | None:
    """Why this worker should stop the redo, or None while it is still its own."""
    model = model_for(work.kind)
    row = session.execute(
        select(model.redo_state, model.processed_by, model.attempts).where(model.id == work.row_id)
    ).first()
    session.commit()
    if row is None:
        return "the narration was deleted"
    if row.redo_state is None:
        return "the redo was cancelled"
    if row.redo_state != PROCESSING or row.processed_by != work.worker or row.attempts != work.attempt:
        return "another worker took the redo over"
    return None


def store_passage(
    session: Session,
    work: ClaimedWork,
    chunk_id: int,
    *,
    audio_path: str,
    sample_rate: int,
    seconds: float,
    characters_billed: int | None,
) -> bool:
    """Keep a redone passage's new file on its chunk (so a successor reuses it); False if no longer ours."""
    done = session.execute(
        update(Chunk)
        .where(Chunk.id == chunk_id, Chunk.redo_state == PROCESSING, exists().where(_fence(work)).correlate(None))
        .values(
            redo_audio_path=audio_path,
            redo_sample_rate=sample_rate,
            redo_seconds=seconds,
            redo_characters_billed=characters_billed,
            updated_at=now(),
        )
        .returning(Chunk.id)
    ).first()
    session.commit()
    return done is not None


def swap(
    session: Session,
    work: ClaimedWork,
    *,
    audio_file: str,
    base64_audio: str,
    duration_seconds: float,
    metadata: dict[str, Any],
    characters_billed: int,
) -> Replaced | None:
    """Put the new audio and the redone passages' text and files in place, in one transaction, if
    this worker still holds the redo. Returns the replaced files to delete ((kind, path) pairs), or
    None when the redo was taken away (cancelled, or given to another worker) meanwhile."""
    model = model_for(work.kind)
    current = session.execute(select(model.audio_file, model.prompt).where(_fence(work)).with_for_update()).first()
    if current is None:
        session.rollback()
        return None
    everyone = list(session.scalars(select(Chunk).where(kind_of(work.kind).owns(work.row_id)).order_by(Chunk.idx)))
    prompt = current.prompt
    for chunk in everyone:
        if chunk.redo_state == PROCESSING and chunk.redo_text is not None:
            prompt = with_passage(prompt, [c.text for c in everyone], chunk.idx, chunk.redo_text)
            chunk.text = chunk.redo_text
    old: Replaced = [("audio", current.audio_file)] if current.audio_file else []
    redone = [c for c in everyone if c.redo_state == PROCESSING]
    for chunk in redone:
        if chunk.audio_path:
            old.append(("chunk", chunk.audio_path))
        chunk.audio_path, chunk.sample_rate = chunk.redo_audio_path, chunk.redo_sample_rate
        chunk.seconds = chunk.redo_seconds
        chunk.characters_billed, chunk.status, chunk.error_message = chunk.redo_characters_billed, "done", None
        chunk.redo_state, chunk.redo_text, chunk.redo_error = DONE, None, None
        chunk.redo_audio_path, chunk.redo_sample_rate, chunk.redo_seconds, chunk.redo_characters_billed = (
            None,
            None,
            None,
            None,
        )
    session.execute(
        update(model)
        .where(_fence(work))
        .values(
            audio_file=audio_file,
            base64_audio=base64_audio,
            duration_seconds=duration_seconds,
            audio_metadata=metadata,
            characters_billed=characters_billed,
            prompt=prompt,
            redo_state=None,
            updated_at=now(),
        )
    )
    record_quality(session, work.kind, work.row_id, metadata)
    events.record(
        session,
        work.kind,
        work.row_id,
        events.What.REDO_COMPLETED,
        passage=redone[0].idx if redone else None,
        worker=work.worker,
        message=f"{duration_seconds:.1f} s of audio",
    )
    session.commit()
    return old


def _finish(
    session: Session, kind: str, row_id: int, state: str, message: str | None, where: ColumnElement[bool]
) -> tuple[int | None, list[str]]:
    """End the redo as `state` on its passages if the row matches `where`: (first passage, its new files)."""
    model = model_for(kind)
    ended = session.execute(
        update(model).where(where).values(redo_state=None, updated_at=now()).returning(model.id)
    ).first()
    if ended is None:
        session.commit()
        return None, []
    chunks = list(session.scalars(select(Chunk).where(_redoing(kind, row_id, *IN_FLIGHT)).order_by(Chunk.idx)))
    files = [c.redo_audio_path for c in chunks if c.redo_audio_path]
    for chunk in chunks:
        chunk.redo_state, chunk.redo_error, chunk.redo_text = state, message, None
        chunk.redo_audio_path, chunk.redo_sample_rate, chunk.redo_seconds, chunk.redo_characters_billed = (
            None,
            None,
            None,
            None,
        )
    first = chunks[0].idx if chunks else None
    return first, files


def fail(session: Session, work: ClaimedWork, message: str) -> list[str]:
    """The redo failed for good: the narration keeps its audio; the passage shows why. Returns the
    redo's new files to delete."""
    first, files = _finish(session, work.kind, work.row_id, FAILED, message, _fence(work))
    if first is not None:
        events.record(
            session, work.kind, work.row_id, events.What.REDO_FAILED, passage=first, worker=work.worker, message=message
        )
    session.commit()
    return files


def cancel(session: Session, kind: str, row_id: int, *, user_id: int | None) -> tuple[int, list[str]] | None:
    """Cancel the redo in flight of a completed narration: (its first passage, its new files to
    delete), or None when there is none. A worker running it stops before its next request."""
    model = model_for(kind)
    where = and_(model.id == row_id, model.status == Status.COMPLETED, model.redo_state.in_(IN_FLIGHT))
    first, files = _finish(session, kind, row_id, CANCELLED, None, where)
    if first is None:
        return None
    session.execute(update(model).where(model.id == row_id).values(updated_by_id=user_id))
    events.record(session, kind, row_id, events.What.REDO_CANCELLED, passage=first, user_id=user_id)
    session.commit()
    return first, files


def retry_later(session: Session, work: ClaimedWork, message: str, *, delay: timedelta) -> None:
    """Give the redo back as queued, due after `delay` (a provider kept failing briefly)."""
    _give_back(session, work, message=message, next_attempt_at=now() + delay)


def release(session: Session, work: ClaimedWork) -> None:
    """Hand the redo back untouched (the worker is shutting down, or PostgreSQL went away)."""
    model = model_for(work.kind)
    _give_back(session, work, attempts=model.attempts - 1)


def _give_back(session: Session, work: ClaimedWork, *, message: str | None = None, **values: Any) -> None:
    model = model_for(work.kind)
    back = session.execute(
        update(model).where(_fence(work)).values(redo_state=QUEUED, task_id=None, **values).returning(model.id)
    ).first()
    if back is not None:
        session.execute(
            update(Chunk)
            .where(_redoing(work.kind, work.row_id, PROCESSING))
            .values(redo_state=QUEUED, redo_error=message)
        )
    session.commit()
