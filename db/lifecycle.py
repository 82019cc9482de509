"""A narration's state changes, each one conditional so that duplicates and races are no-ops.

The row is the source of truth and Redis only carries work. A worker claims a row by moving it
from `queued` to `processing` and stamping itself and the attempt number; every later write of
that worker is fenced on the same (status, processed_by, attempts), so a worker that was given up
on (killed, partitioned) can never overwrite what its successor did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    Update,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from db import events
from db.chunks import quality_passages
from db.models import Chunk, Event, SceneAudio, Status, StoryAudio, WorkerBeat
from db.narrations import MODELS, kind_of, model_for, now
from db.project_settings import Voice

Replacement = aliased(StoryAudio)


@dataclass(frozen=True)
class ClaimedWork:
    """What a worker needs to synthesize a row it has claimed."""

    kind: str
    row_id: int
    prompt: str
    provider: str
    model: str
    voice: str | None
    output_format: str | None
    instructions: str | None
    speed: float | None
    mastering: str | None
    listen_back: bool | None
    priority: int
    """Higher first: the worker's provider gate serves its requests before lower rows' (workers/engine/gates.py)."""
    attempt: int
    max_attempts: int
    worker: str
    has_passages: bool = True
    """Whether the row had passage rows when claimed (an earlier attempt's, or a redo's); a claim
    that says none spares the job's plan its read of them."""


def claimed_columns(model: type[StoryAudio] | type[SceneAudio]) -> tuple[Any, ...]:
    """The row's columns a claim returns, labelled as ClaimedWork's fields."""
    return (
        model.prompt, model.provider, model.model_backend.label("model"), model.voice_style.label("voice"),
        model.output_format, model.instructions, model.speed, model.mastering, model.listen_back,
        model.priority, model.attempts.label("attempt"), model.max_attempts,
    )  # fmt: skip


def _mine(model: type[StoryAudio] | type[SceneAudio], work: ClaimedWork) -> ColumnElement[bool]:
    return and_(
        model.id == work.row_id,
        model.status == Status.PROCESSING,
        model.processed_by == work.worker,
        model.attempts == work.attempt,
    )


def _update_mine(
    session: Session, work: ClaimedWork, event: tuple[events.What, str] | None = None, **values: Any
) -> bool:
    """Apply `values` to the row only while this worker still holds it, with the `event` (what, and
    a message) that says so; False if it does not (and then nothing is recorded)."""
    model = model_for(work.kind)
    done = session.execute(
        update(model).where(_mine(model, work)).values(updated_at=now(), **values).returning(model.id)
    ).first()
    if done is not None and event is not None:
        what, message = event
        events.record(session, work.kind, work.row_id, what, worker=work.worker, message=message)
    session.commit()
    return done is not None


def _refusal(session: Session, kind: str, row_id: int, allowed: str) -> str:
    """Why a state change was refused: the row is gone, or in a state the action does not apply to."""
    current = session.scalar(select(model_for(kind).status).where(model_for(kind).id == row_id))
    if current is None:
        return f"{kind.title()} narration #{row_id} does not exist."
    return f"{kind.title()} narration #{row_id} is already {current}; {allowed}."


class WrongState(ValueError):
    """The narration is not in a state the action applies to; the message says which it is in."""


@cache
def _claim_of(kind: str) -> Update:
    """The claim, built once per kind: it runs at the start of every job."""
    model = model_for(kind)
    stamp: BindParameter[datetime] = bindparam("stamp")
    return (
        update(model)
        .where(model.id == bindparam("row"), model.status == Status.QUEUED)
        .values(
            status=Status.PROCESSING,
            started_at=func.coalesce(model.started_at, stamp),
            updated_at=stamp,
            processed_by=bindparam("worker"),
            attempts=model.attempts + 1,
            next_attempt_at=None,
        )
        .returning(*claimed_columns(model), exists().where(kind_of(kind).chunk_owner == model.id).label("has_passages"))
    )


def claim(session: Session, kind: str, row_id: int, *, worker: str) -> ClaimedWork | None:
    """Move a queued row to processing for this worker; None when it is not queued any more.

    In the caller's transaction, which commits it: the worker plans the row's chunks in the same
    one, so a job costs one commit to start. `started_at` stays the first start; a later attempt
    (after a backoff, a crash) is a CLAIMED event like the first, as is the retry or requeue that
    led to it."""
    claimed = session.connection().execute(_claim_of(kind), {"row": row_id, "stamp": now(), "worker": worker}).first()
    if claimed is None:
        return None
    attempt = f"attempt {claimed.attempt} of {claimed.max_attempts}"
    events.record(session, kind, row_id, events.What.CLAIMED, worker=worker, message=attempt)
    return ClaimedWork(kind=kind, row_id=row_id, worker=worker, **claimed._asdict())


def interruption(session: Session, work: ClaimedWork) -> str | None:
    """Why this worker should stop working on the row, or None if it is still its own."""
    model = model_for(work.kind)
    row = session.execute(
        select(model.status, model.processed_by, model.attempts, model.cancelled_at).where(model.id == work.row_id)
    ).first()
    session.commit()
    if row is None:
        return "the narration was deleted"
    status, processed_by, attempts, cancelled_at = row
    if cancelled_at is not None:
        return "the narration was cancelled"
    if status != Status.PROCESSING or processed_by != work.worker or attempts != work.attempt:
        return "another worker took the narration over"
    return None


@cache
def _complete_of(kind: str) -> Update:
    """The completion, fenced as `_mine` is, built once per kind: it ends every job that succeeds."""
    model = model_for(kind)
    stamp: BindParameter[datetime] = bindparam("stamp")
    return (
        update(model)
        .where(
            model.id == bindparam("row"),
            model.status == Status.PROCESSING,
            model.processed_by == bindparam("worker"),
            model.attempts == bindparam("attempt"),
        )
        .values(
            status=Status.COMPLETED,
            audio_file=bindparam("p_audio_file"),
            base64_audio=bindparam("p_base64_audio"),
            duration_seconds=bindparam("p_duration_seconds"),
            audio_metadata=bindparam("p_metadata", type_=model.audio_metadata.type),
            completed_at=stamp,
            updated_at=stamp,
            error_message=None,
        )
        .returning(model.id, model.audio_metadata)
    )


@cache
def _complete_with_history_of(kind: str, quality: bool) -> Select[tuple[int]]:
    """The completion, its COMPLETED event and (`quality`) the copy of each passage's quality
    figures onto its chunk row (what `record_quality` does), as one statement: the event and the
    chunk update are CTEs that read the row the fenced completion returns, so they land exactly
    when it does. A job that succeeds costs one round trip to end, history and all."""
    done = _complete_of(kind).cte("done")
    event = insert(Event).from_select(
        ["narration_kind", "narration_id", "what", "worker", "message"],
        select(literal(kind), done.c.id, literal(events.What.COMPLETED.value), bindparam("worker"), bindparam("said")),
    )
    statement = select(done.c.id).add_cte(event.cte("event"))
    if not quality:
        return statement
    passage = (
        func.jsonb_array_elements(done.c.audio_metadata["qc"]["passages"])
        .table_valued("value", with_ordinality="n")
        .render_derived()
        .alias("passage")
    )
    chunks = (
        update(Chunk)
        .where(kind_of(kind).chunk_owner == done.c.id, Chunk.idx == passage.c.n - 1)
        .values(qc=passage.c.value)
        .cte("quality")
    )
    return statement.add_cte(chunks)


def complete(
    session: Session,
    work: ClaimedWork,
    *,
    audio_file: str,
    base64_audio: str,
    duration_seconds: float,
    metadata: dict[str, Any],
) -> bool:
    """Record the audio of a row this worker still holds, its COMPLETED event, and each passage's
    quality figures on its chunk row (`db.chunks.record_quality`); False if it was taken away meanwhile.

    A story replacement takes the story over in the same transaction, so the story never has
    zero or two narrations, and the old one stays in the library with its audio. A scene's
    completion is that one statement, so it runs as a transaction of its own (autocommit): one round
    trip, where BEGIN and COMMIT would make it three."""
    statement = _complete_with_history_of(work.kind, bool(quality_passages(metadata)))
    alone = {"isolation_level": "AUTOCOMMIT"} if work.kind != "story" else None
    done = (
        session.connection(execution_options=alone)
        .execute(
            statement,
            {
                "row": work.row_id,
                "worker": work.worker,
                "attempt": work.attempt,
                "stamp": now(),
                "p_audio_file": audio_file,
                "p_base64_audio": base64_audio,
                "p_duration_seconds": duration_seconds,
                "p_metadata": metadata,
                "said": f"{duration_seconds:.1f} s of audio, attempt {work.attempt}",
            },
        )
        .first()
    )
    if done is not None and work.kind == "story":
        _take_over_story(session, work.row_id)
    session.commit()
    return done is not None


def _take_over_story(session: Session, row_id: int) -> None:
    """Move the story from the narration this one replaces to this one (no-op for a first narration)."""
    replaced = session.execute(
        select(StoryAudio.id, StoryAudio.story_id)
        .join(Replacement, Replacement.replaces_id == StoryAudio.id)
        .where(Replacement.id == row_id, Replacement.story_id.is_(None))
        .with_for_update(of=StoryAudio)
    ).first()
    if replaced is None or replaced.story_id is None:
        return  # not a replacement, or the story was deleted meanwhile: the audio stays, unattached
    session.execute(update(StoryAudio).where(StoryAudio.id == replaced.id).values(story_id=None, updated_at=now()))
    session.execute(update(StoryAudio).where(StoryAudio.id == row_id).values(story_id=replaced.story_id))
    events.record(session, "story", replaced.id, events.What.REPLACED, message=f"by story narration #{row_id}")


def fail(session: Session, work: ClaimedWork, message: str) -> None:
    """Mark the row failed with a sentence a person can act on (the FAILED event keeps it, where the
    row's `error_message` keeps only the last)."""
    _update_mine(
        session, work, (events.What.FAILED, message), status=Status.FAILED, error_message=message, completed_at=now()
    )


def retry_later(session: Session, work: ClaimedWork, message: str, *, delay: timedelta) -> None:
    """Give the row back as queued, due after `delay`; the reconciler enqueues it then."""
    _update_mine(
        session,
        work,
        (events.What.ATTEMPT_FAILED, message),
        status=Status.QUEUED,
        error_message=message,
        next_attempt_at=now() + delay,
        task_id=None,
    )


def fall_back(
    session: Session, work: ClaimedWork, to: Voice, *, delivery: dict[str, Any], why: str, task_id: str
) -> list[str] | None:
    """Give a row this worker holds to the project's fallback voice: queued again with a fresh set
    of attempts, its provider, model and voice now the fallback's (and `delivery`, its tone
    instructions and speed, as the fallback takes them), the voice asked for kept in
    `fell_back_from`, and a FELL_BACK event saying why. Its passages in the old voice are dropped
    (one narration in two voices is no narration); returns their files, for the caller to delete
    once this commits. None when the row was taken away meanwhile (nothing changed)."""
    model = model_for(work.kind)
    asked = Voice(work.provider, work.model, work.voice or "").label
    done = session.execute(
        update(model)
        .where(_mine(model, work))
        .values(
            {
                **_queued_afresh(task_id, None),
                "provider": to.provider, "model_backend": to.model, "voice_style": to.voice,
                "fell_back_from": asked, "updated_by_id": model.updated_by_id, **delivery,
                "error_message": f"Narrated with the project's fallback voice: {why}",
            }
        )
        .returning(model.id)
    ).first()  # fmt: skip
    if done is None:
        session.rollback()
        return None
    dropped = session.execute(
        delete(Chunk).where(kind_of(work.kind).owns(work.row_id)).returning(Chunk.audio_path, Chunk.characters_billed)
    ).all()
    paid = sum(billed or 0 for _, billed in dropped)
    said = f"from {asked}: {why}" + (f" ({paid:,} characters already billed in the old voice)" if paid else "")
    events.record(session, work.kind, work.row_id, events.What.FELL_BACK, worker=work.worker, message=said)
    session.commit()
    return [path for path, _ in dropped if path]


def release(session: Session, work: ClaimedWork) -> None:
    """Hand the row back untouched (the worker is shutting down); this attempt does not count."""
    model = model_for(work.kind)
    _update_mine(session, work, status=Status.QUEUED, attempts=model.attempts - 1, task_id=None)


def cancel(session: Session, kind: str, row_id: int, *, user_id: int | None = None) -> str:
    """Cancel a queued or running narration; returns what happened, as a sentence."""
    if cancelled(session, kind, row_id, user_id=user_id):
        return f"Cancelled {kind} narration #{row_id}. A worker that was running it stops before its next chunk."
    return _refusal(session, kind, row_id, "only queued or running jobs can be cancelled")


def cancelled(session: Session, kind: str, row_id: int, *, user_id: int | None = None) -> bool:
    """Cancel the row if it is still queued or running; whether it was."""
    model = model_for(kind)
    stamp = now()
    row = session.execute(
        update(model)
        .where(model.id == row_id, model.status.in_([Status.QUEUED, Status.PROCESSING]))
        .values(
            status=Status.FAILED,
            cancelled_at=stamp,
            completed_at=stamp,
            updated_at=stamp,
            updated_by_id=user_id,
            error_message="Cancelled before it finished.",
        )
        .returning(model.id)
    ).first()
    if row is not None:
        events.record(session, kind, row_id, events.What.CANCELLED, user_id=user_id)
    session.commit()
    return row is not None


def _queued_afresh(task_id: str, user_id: int | None) -> dict[str, Any]:
    """The values that put a finished row back in the queue as new: a fresh set of attempts, no outcome."""
    return {
        "status": Status.QUEUED,
        "attempts": 0,
        "next_attempt_at": None,
        "cancelled_at": None,
        "error_message": None,
        "completed_at": None,
        "characters_billed": None,  # billed anew when it completes again
        "task_id": task_id,
        "updated_at": now(),
        "updated_by_id": user_id,
    }


def requeue_failed(session: Session, kind: str, row_id: int, *, task_id: str, user_id: int | None) -> int:
    """Put a failed (or cancelled) row back in the queue with a fresh set of attempts; returns its
    priority (for the queue to use). Its finished chunks are kept, so the retry pays only for what
    is missing. Raises WrongState with the reason when the row is not failed.
    """
    model = model_for(kind)
    row = session.execute(
        update(model)
        .where(model.id == row_id, model.status == Status.FAILED)
        .values(_queued_afresh(task_id, user_id))
        .returning(model.priority)
    ).first()
    if row is not None:
        events.record(session, kind, row_id, events.What.RETRIED, user_id=user_id)
    session.commit()
    if row is None:
        raise WrongState(_refusal(session, kind, row_id, "only failed or cancelled narrations can be retried"))
    return int(row[0])


@dataclass(frozen=True)
class QueuedRow:
    """A queued row as the reconciler sees it."""

    row_id: int
    task_id: str | None
    priority: int
    created_at: datetime


def due_now(model: type[StoryAudio] | type[SceneAudio], stamp: datetime) -> ColumnElement[bool]:
    """Queued, and neither scheduled for later nor waiting out a retry's back-off: what a worker takes now
    (the reconciler's scan, and a queued card's place in line, `db/line.py`)."""
    return and_(
        model.status == Status.QUEUED,
        or_(model.scheduled_at.is_(None), model.scheduled_at <= stamp),
        or_(model.next_attempt_at.is_(None), model.next_attempt_at <= stamp),
    )


def queued_rows(session: Session, kind: str, *, limit: int) -> list[QueuedRow]:
    """Work due now: queued rows, highest priority then oldest first (served by `ix_<table>_queued`),
    then queued redos of completed rows (`ix_<table>_redo`; the same job runs both)."""
    model = model_for(kind)
    stamp = now()
    due = or_(model.next_attempt_at.is_(None), model.next_attempt_at <= stamp)
    query = (
        select(model.id, model.task_id, model.priority, model.created_at)
        .where(due_now(model, stamp))
        .order_by(model.priority.desc(), model.created_at)
        .limit(limit)
    )
    redos = (
        select(model.id, model.task_id, model.priority, model.created_at)
        .where(model.redo_state == "queued", model.status == Status.COMPLETED, due)
        .order_by(model.priority.desc(), model.created_at)
        .limit(limit)
    )
    return [QueuedRow(*row) for row in [*session.execute(query), *session.execute(redos)]]


def set_task_id(session: Session, kind: str, row_id: int, task_id: str) -> int | None:
    """Give a waiting row (queued, or a queued redo) the job id it is about to be enqueued under;
    the row's priority, or None when it is not waiting any more (nothing to enqueue)."""
    model = model_for(kind)
    waiting = or_(model.status == Status.QUEUED, and_(model.status == Status.COMPLETED, model.redo_state == "queued"))
    priority = session.execute(
        update(model).where(model.id == row_id, waiting).values(task_id=task_id).returning(model.priority)
    ).scalar()
    return None if priority is None else int(priority)


Owner = Callable[[Any], ColumnElement[bool]]
"""Which workers' rows to give back, as a condition on a narration table's `processed_by`."""


def requeue_orphans(session: Session, *, dead_after: timedelta) -> list[tuple[str, int, str]]:
    """Give back rows stuck in `processing` under a worker that stopped heartbeating.

    A worker counts as dead when its heartbeat is `dead_after` behind the freshest heartbeat of
    any worker, not behind the clock: after PostgreSQL itself was down every heartbeat is old, and
    no live worker should be mistaken for dead then. This rule holds for every worker, leased or
    not (db/leases.py has the fast one): a machine that vanished without closing its connections
    keeps its lease until the server notices, and a frozen process keeps it for good.
    Returns (kind, id, worker) of each row or redo given back.
    """
    freshest = session.scalar(select(func.max(WorkerBeat.last_seen_at)))
    if freshest is None:
        return []
    alive = select(WorkerBeat.name).where(
        WorkerBeat.last_seen_at > freshest - dead_after, WorkerBeat.stopped_at.is_(None)
    )
    given_back = give_back(session, lambda processed_by: processed_by.not_in(alive), "the worker stopped responding")
    session.commit()
    return given_back


def give_back(session: Session, owner: Owner, why: str) -> list[tuple[str, int, str]]:
    """Put the rows `processing` under the workers `owner` names back in the queue (the caller
    commits). Rows with no `processed_by` (claimed by some other system, such as the Django app's
    own workers) are left alone. A redo of a completed row goes back to `queued` the same way (the
    row stays completed). Each row given back gets a REQUEUED event saying `why`; their finished
    chunks are kept, so the next attempt resumes. Returns (kind, id, worker) of each.
    """
    given_back: list[tuple[str, int, str]] = []
    for kind, model in MODELS.items():
        rows = session.execute(
            update(model)
            .where(model.status == Status.PROCESSING, model.processed_by.is_not(None), owner(model.processed_by))
            .values(
                status=Status.QUEUED,
                task_id=None,
                updated_at=now(),
                error_message="The worker running this stopped responding; requeued to resume from its done chunks.",
            )
            .returning(model.id, model.processed_by)
        ).all()
        redos = session.execute(
            update(model)
            .where(
                model.status == Status.COMPLETED,
                model.redo_state == "processing",
                model.processed_by.is_not(None),
                owner(model.processed_by),
            )
            .values(redo_state="queued", task_id=None)
            .returning(model.id, model.processed_by)
        ).all()
        for row_id, _ in redos:
            session.execute(
                update(Chunk)
                .where(kind_of(kind).owns(row_id), Chunk.redo_state == "processing")
                .values(redo_state="queued")
            )
        for row_id, worker in [*rows, *redos]:
            events.record(session, kind, row_id, events.What.REQUEUED, worker=str(worker), message=why)
        given_back += [(kind, row_id, str(worker)) for row_id, worker in [*rows, *redos]]
    return given_back


def with_passage(prompt: str, texts: list[str], idx: int, passage: str) -> str:
    """The prompt with chunk `idx`'s text replaced by `passage`, everything around it untouched."""
    position = 0
    for number, text in enumerate(texts):
        start = prompt.find(text, position)
        if start < 0:
            break
        if number == idx:
            return prompt[:start] + passage + prompt[start + len(text) :]
        position = start + len(text)
    raise WrongState("The chunks no longer match the text (it was edited elsewhere); duplicate the narration instead.")


def redo_chunk(
    session: Session, kind: str, row_id: int, idx: int, *, passage: str | None, task_id: str, user_id: int | None
) -> tuple[int, str | None]:
    """Queue a failed narration again with one chunk to synthesize anew, optionally with new text for
    it: a retry that redoes that passage. Every other done chunk is reused, so only that passage is
    paid for. (A completed narration's redo leaves the row as it is: db/redo.py.)

    Returns (priority, the old chunk file to delete). Raises WrongState with the reason."""
    model = model_for(kind)
    row = session.execute(select(model.status, model.prompt).where(model.id == row_id).with_for_update()).first()
    if row is None:
        raise WrongState(f"{kind.title()} narration #{row_id} does not exist.")
    if row.status != Status.FAILED:
        raise WrongState(
            f"{kind.title()} narration #{row_id} is {row.status}; redo a passage once it has completed or failed."
        )
    stored = list(session.scalars(select(Chunk).where(kind_of(kind).owns(row_id)).order_by(Chunk.idx)))
    chunk = next((c for c in stored if c.idx == idx), None)
    if chunk is None:
        raise WrongState(f"{kind.title()} narration #{row_id} has no chunk {idx + 1}.")
    prompt = row.prompt
    if passage is not None and passage != chunk.text:
        prompt = with_passage(prompt, [c.text for c in stored], idx, passage)
        chunk.text = passage
    old_path = chunk.audio_path
    chunk.status, chunk.audio_path, chunk.seconds, chunk.sample_rate = "pending", None, None, None
    chunk.request_id, chunk.characters_billed, chunk.error_message = None, None, None
    priority = session.execute(
        update(model)
        .where(model.id == row_id)
        .values(prompt=prompt, **_queued_afresh(task_id, user_id))
        .returning(model.priority)
    ).scalar_one()
    events.record(session, kind, row_id, events.What.RETRIED, passage=idx, user_id=user_id, message="redo a passage")
    session.commit()
    return int(priority), old_path
