"""What staff do to an existing narration: retry it, redo one passage, or (superusers) delete it.

Each returns a sentence saying what happened or why it was refused.
"""

from __future__ import annotations

from redis.exceptions import RedisError

from db import chunks, lifecycle
from db.engine import new_session
from db.models import Status
from db.narrations import get
from db.settings import get_settings
from workers import catalogue, storage
from workers.queue import enqueue, new_task_id
from workers.signin import SignedIn


def _enqueued(kind: str, row_id: int, task_id: str, priority: int, done: str) -> str:
    """Enqueue the requeued row; the sentence `done`, or why a worker starts it only later."""
    try:
        enqueue(kind, row_id, task_id=task_id, priority=priority)
    except RedisError:
        return f"{done.split(';')[0]}; Redis is unreachable, so a worker starts it once Redis is back."
    return done


def retry(kind: str, row_id: int, user: SignedIn) -> str:
    if not user.can_compose:
        return "Only staff can retry narrations."
    task_id = new_task_id()
    try:
        with new_session() as session:
            priority = lifecycle.requeue_failed(session, kind, row_id, task_id=task_id, user_id=user.user_id)
    except lifecycle.WrongState as refused:
        return str(refused)
    return _enqueued(
        kind,
        row_id,
        task_id,
        priority,
        f"Queued {kind} narration #{row_id} again; chunks already done are not paid for twice.",
    )


def redo_chunk(kind: str, row_id: int, idx: int, passage: str | None, user: SignedIn) -> str:
    """Synthesize one chunk again (with new text if given) and re-join; the rest is reused, not re-paid."""
    if not user.can_compose:
        return "Only staff can redo a passage."
    media = get_settings().media_path
    with new_session() as session:
        row = get(session, kind, row_id)
        if row is None:
            return f"{kind.title()} narration #{row_id} does not exist."
        model = catalogue.model(row.provider, row.model_backend)
    text = None if passage is None else passage.strip()
    if text is not None and not text:
        return "The passage is empty. Write its text, or use the narration's own text unchanged."
    if text is not None and model is not None and len(text) > model.max_chars:
        return (
            f"The passage has {len(text):,} characters; {model.label} takes {model.max_chars:,} per request. "
            "Shorten it, or duplicate the narration with the new text."
        )
    task_id = new_task_id()
    try:
        with new_session() as session:
            priority, old_file = lifecycle.redo_chunk(
                session, kind, row_id, idx, passage=text, task_id=task_id, user_id=user.user_id
            )
    except lifecycle.WrongState as refused:
        return str(refused)
    storage.remove(media, [old_file] if old_file else [])
    return _enqueued(
        kind,
        row_id,
        task_id,
        priority,
        f"Queued passage {idx + 1} of {kind} narration #{row_id} again; the other passages are reused and the "
        "audio is re-joined. The current audio plays until then.",
    )


def delete(kind: str, row_id: int, user: SignedIn) -> str:
    if not user.is_superuser:
        return "Only superusers can delete narrations."
    media = get_settings().media_path
    with new_session() as session:
        row = get(session, kind, row_id)
        if row is None:
            return f"{kind.title()} narration #{row_id} does not exist."
        if row.status == Status.PROCESSING:
            return f"{kind.title()} narration #{row_id} is running; cancel it first, then delete it."
        paths = chunks.audio_paths(session, kind, row_id)
        session.delete(row)  # its chunks and tag links go with it (ON DELETE CASCADE)
        session.commit()
    removed = storage.remove(media, paths)
    return f"Deleted {kind} narration #{row_id} and {removed} file(s)."
