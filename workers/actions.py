"""What staff do to an existing narration: retry it, or (superusers) delete it with its files.

Each returns a sentence saying what happened or why it was refused.
"""

from __future__ import annotations

from redis.exceptions import RedisError
from sqlalchemy import select

from db.engine import new_session
from db.lifecycle import requeue_failed
from db.models import Chunk, Status
from db.narrations import get
from db.settings import get_settings
from workers.queue import enqueue, new_task_id
from workers.signin import SignedIn


def retry(kind: str, row_id: int, user: SignedIn) -> str:
    if not user.can_compose:
        return "Only staff can retry narrations."
    task_id = new_task_id()
    with new_session() as session:
        refused = requeue_failed(session, kind, row_id, task_id=task_id, user_id=user.user_id)
        row = get(session, kind, row_id)
        priority = row.priority if row else 0
    if refused:
        return refused
    try:
        enqueue(kind, row_id, task_id=task_id, priority=priority)
    except RedisError:
        return (
            f"Queued {kind} narration #{row_id} again; Redis is unreachable, so a worker starts it once Redis is back."
        )
    return f"Queued {kind} narration #{row_id} again; chunks already done are not paid for twice."


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
        owner = Chunk.story_audio_id if kind == "story" else Chunk.scene_audio_id
        paths = [p for p in session.scalars(select(Chunk.audio_path).where(owner == row_id)) if p]
        if row.audio_file:
            paths.append(row.audio_file)
        session.delete(row)  # its chunks and tag links go with it (ON DELETE CASCADE)
        session.commit()
    removed = 0
    for relative in paths:
        target = media / relative
        if target.is_file():
            target.unlink()
            removed += 1
    return f"Deleted {kind} narration #{row_id} and {removed} file(s)."
