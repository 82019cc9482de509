"""What staff do to an existing narration: retry it, or (superusers) delete it with its files.

Each returns a sentence saying what happened or why it was refused.
"""

from __future__ import annotations

from redis.exceptions import RedisError

from db import chunks
from db.engine import new_session
from db.lifecycle import WrongState, requeue_failed
from db.models import Status
from db.narrations import get
from db.settings import get_settings
from workers import storage
from workers.queue import enqueue, new_task_id
from workers.signin import SignedIn


def retry(kind: str, row_id: int, user: SignedIn) -> str:
    if not user.can_compose:
        return "Only staff can retry narrations."
    task_id = new_task_id()
    try:
        with new_session() as session:
            priority = requeue_failed(session, kind, row_id, task_id=task_id, user_id=user.user_id)
    except WrongState as refused:
        return str(refused)
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
        paths = chunks.audio_paths(session, kind, row_id)
        session.delete(row)  # its chunks and tag links go with it (ON DELETE CASCADE)
        session.commit()
    removed = storage.remove(media, paths)
    return f"Deleted {kind} narration #{row_id} and {removed} file(s)."
