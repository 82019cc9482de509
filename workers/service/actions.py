"""What staff do to existing narrations: retry or cancel one or every one a library filter shows,
redo one passage, or (superusers) delete one.

Each returns a sentence saying what happened or why it was refused. Who may act is read afresh from
`auth_user` (`workers/service/access.py`), not taken from the page's `SignedIn`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from db import chunks, events, lifecycle, redo
from db.engine import new_session
from db.library import Filters, matching
from db.models import CANCELLED, Narration, Status, StoryAudio
from db.narrations import get, pending_replacement
from db.settings import get_settings
from workers.engine import catalogue, storage
from workers.engine.queue import enqueue, new_task_id
from workers.engine.store import media_store
from workers.service.access import refusal
from workers.service.roles import SignedIn


def _requeue(kind: str, row_id: int, user: SignedIn) -> bool:
    """Put a failed row back in the queue (raises WrongState if it is not failed); whether Redis took
    it too. If not, it is queued in PostgreSQL and the workers' reconciler sends it once Redis is back."""
    task_id = new_task_id()
    with new_session() as session:
        priority = lifecycle.requeue_failed(session, kind, row_id, task_id=task_id, user_id=user.user_id)
    return _sent(kind, row_id, task_id, priority)


def _sent(kind: str, row_id: int, task_id: str, priority: int) -> bool:
    try:
        enqueue(kind, row_id, task_id=task_id, priority=priority)
    except RedisError:
        return False
    return True


LATER = "Redis is unreachable, so a worker starts it once Redis is back."


def retry(kind: str, row_id: int, user: SignedIn) -> str:
    if refused := refusal(user.user_id, "retry narrations"):
        return refused
    try:
        sent = _requeue(kind, row_id, user)
    except lifecycle.WrongState as refused:
        return str(refused)
    if not sent:
        return f"Queued {kind} narration #{row_id} again; {LATER}"
    return f"Queued {kind} narration #{row_id} again; chunks already done are not paid for twice."


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def retry_matching(filters: Filters, user: SignedIn) -> str:
    """Retry every failed narration the filters show (after an outage of a provider, say), or every
    cancelled one when the filters pick `cancelled`: a cancel was on purpose, so "retry all failed"
    leaves it alone. A row retried or changed meanwhile is left alone, so a second click queues
    nothing twice."""
    if refused := refusal(user.user_id, "retry narrations"):
        return refused
    state = CANCELLED if filters.status == CANCELLED else Status.FAILED
    limit = get_settings().max_bulk_rows  # the newest first, so one click stays a few seconds long
    with new_session() as session:
        targets = matching(session, replace(filters, status=state), limit=limit)
    if not targets:
        return f"No {state} narration matches these filters; nothing was retried."
    queued, changed, unsent = 0, 0, 0
    for kind, row_id in targets:
        try:
            sent = _requeue(kind, row_id, user)
        except lifecycle.WrongState:
            changed += 1  # retried, deleted or otherwise changed since the list was read
            continue
        queued += 1
        unsent += not sent
    said = [f"Queued {_plural(queued, f'{state} narration')} again; chunks already done are not paid for twice."]
    if changed:
        said.append(f"Left {_plural(changed, 'other')} as is: changed meanwhile.")
    if unsent:
        said.append(f"Of those, {unsent:,} wait in PostgreSQL: Redis is unreachable; workers start them once it is up.")
    if len(targets) == limit:
        said.append(f"That was the newest {limit:,}; retry again for older ones.")
    return " ".join(said)


def cancel_matching(filters: Filters, user: SignedIn) -> str:
    """Cancel every queued or running narration the filters show (scenes sent in bulk with the wrong
    voice, say). Running ones stop before their next chunk."""
    if refused := refusal(user.user_id, "cancel narrations"):
        return refused
    pending = (Status.QUEUED, Status.PROCESSING)
    statuses = [filters.status] if filters.status in pending else pending
    limit = get_settings().max_bulk_rows
    with new_session() as session:
        targets = [
            row for status in statuses for row in matching(session, replace(filters, status=status), limit=limit)
        ]
        done = sum(lifecycle.cancelled(session, kind, row_id, user_id=user.user_id) for kind, row_id in targets)
    if not targets:
        return "No queued or running narration matches these filters; nothing was cancelled."
    said = [f"Cancelled {_plural(done, 'narration')}; retry them from the library if you want them after all."]
    if done < len(targets):
        said.append(f"Left {_plural(len(targets) - done, 'other')} as is: finished meanwhile.")
    return " ".join(said)


def redo_chunk(kind: str, row_id: int, idx: int, passage: str | None, user: SignedIn) -> str:
    """Synthesize one chunk again (with new text if given) and re-join; the rest is reused, not re-paid.

    A completed narration stays completed with the audio it has until the new audio is ready
    (`db.redo`); a failed one is queued again with that passage to redo (a retry)."""
    if refused := refusal(user.user_id, "redo a passage"):
        return refused
    with new_session() as session:
        row = get(session, kind, row_id)
        if row is None:
            return f"{kind.title()} narration #{row_id} does not exist."
        model = catalogue.model(row.provider, row.model_backend)
        completed = row.status == Status.COMPLETED
    text = None if passage is None else passage.strip()
    if text is not None and not text:
        return "The passage is empty. Write its text, or use the narration's own text unchanged."
    if text is not None and model is not None and len(text) > model.max_chars:
        return (
            f"The passage has {len(text):,} characters; {model.label} takes {model.max_chars:,} per request. "
            "Shorten it, or duplicate the narration with the new text."
        )
    task_id = new_task_id()
    old_file = None
    try:
        with new_session() as session:
            if completed:
                priority = redo.queue(session, kind, row_id, idx, passage=text, task_id=task_id, user_id=user.user_id)
            else:
                priority, old_file = lifecycle.redo_chunk(
                    session, kind, row_id, idx, passage=text, task_id=task_id, user_id=user.user_id
                )
    except lifecycle.WrongState as refused:
        return str(refused)
    removal = storage.remove(media_store(), [("chunk", old_file)] if old_file else [])
    queued = f"Queued passage {idx + 1} of {kind} narration #{row_id} again"
    if not _sent(kind, row_id, task_id, priority):
        said = f"{queued}; {LATER}"
    elif completed:
        said = (
            f"{queued}; the other passages are reused and the audio is re-joined. The narration stays completed "
            "and its current audio plays until the new one is ready."
        )
    else:
        said = f"{queued}; the other passages are reused and the audio is re-joined."
    return " ".join([said, *(kept.not_done("deleted") for kept in removal.refused)])


def redo_passages(kind: str, row_id: int, indexes: Sequence[int], user: SignedIn) -> str:
    """Narrate several passages of a completed narration again as they are (the flagged ones, say),
    in one redo: re-joined once, the rest reused and not paid for again. The narration stays
    completed, with the audio it has, until the new audio is ready (`db.redo`)."""
    if refused := refusal(user.user_id, "redo a passage"):
        return refused
    chosen = sorted(set(indexes))
    task_id = new_task_id()
    try:
        with new_session() as session:
            priority = redo.queue_several(
                session, kind, row_id, dict.fromkeys(chosen), task_id=task_id, user_id=user.user_id
            )
    except lifecycle.WrongState as refused:
        return str(refused)
    which = ", ".join(str(i + 1) for i in chosen)
    queued = f"Queued {_plural(len(chosen), 'passage')} ({which}) of {kind} narration #{row_id} again"
    if not _sent(kind, row_id, task_id, priority):
        return f"{queued}; {LATER}"
    return (
        f"{queued}; the other passages are reused and the audio is re-joined. The narration stays completed "
        "and its current audio plays until the new one is ready."
    )


def cancel(kind: str, row_id: int, user: SignedIn) -> str:
    """Cancel one queued or running narration, or the redo in flight of a completed one (which keeps
    its status and audio); a running job stops before its next chunk."""
    if refused := refusal(user.user_id, "cancel narrations"):
        return refused
    with new_session() as session:
        stopped = redo.cancel(session, kind, row_id, user_id=user.user_id)
        if stopped is None:
            return lifecycle.cancel(session, kind, row_id, user_id=user.user_id)
    passage, files = stopped
    storage.remove(media_store(), [("chunk", p) for p in files])
    return (
        f"Cancelled the redo of passage {passage + 1} of {kind} narration #{row_id}; "
        "the narration keeps the audio it had."
    )


def _plural_files(count: int) -> str:
    return f"{count:,} passage file{'' if count == 1 else 's'}"


def _delete_refusal(session: Session, kind: str, row: Narration) -> str | None:
    """Why the row cannot be deleted now (a worker holds it, or its replacement is on the way), or None."""
    if row.status == Status.PROCESSING:
        return f"{kind.title()} narration #{row.id} is running; cancel it first, then delete it."
    if kind == "story" and (successor := pending_replacement(session, row.id)) is not None:
        return (
            f"Narration #{row.id} is being replaced by #{successor.id}, which is still {successor.status}; "
            f"cancel #{successor.id} first, then delete #{row.id}."
        )
    return None


def why_not_delete(kind: str, row_id: int) -> str | None:
    """The page asks before offering Delete, so it never offers what would be refused."""
    with new_session() as session:
        row = get(session, kind, row_id)
        if row is None:
            return f"{kind.title()} narration #{row_id} does not exist."
        return _delete_refusal(session, kind, row)


def what_delete_removes(kind: str, row_id: int) -> str:
    """What a delete takes away, said before it happens: the row, its files, and for a story's
    current narration, the story's only narration (the storytelling app then shows none)."""
    with new_session() as session:
        row = get(session, kind, row_id)
        if row is None:
            return f"{kind.title()} narration #{row_id} no longer exists."
        passages, own = chunks.stored_files(session, kind, row_id)
        story = row.story if isinstance(row, StoryAudio) else None
        title = story.title if story else None
    audio = "its audio file" if own else "no audio file (it has none)"
    said = f"This deletes {kind} narration #{row_id} for good: the row, {audio} and {_plural_files(len(passages))}."
    if title is not None:
        said += (
            f" It is the current narration of “{title}”: the story will then have no narration, and the "
            "storytelling app will show none until it is narrated again."
        )
    return said


def delete(kind: str, row_id: int, user: SignedIn) -> str:
    """Delete the row and its files; a file whose stored path is refused (outside the media folder,
    say) stays where it is, and the sentence says so."""
    if refused := refusal(user.user_id, "delete narrations", superuser=True):
        return refused
    media = media_store()
    with new_session() as session:
        row = get(session, kind, row_id)
        if row is None:
            return f"{kind.title()} narration #{row_id} does not exist."
        if refused := _delete_refusal(session, kind, row):
            return refused
        files = storage.narration_files(*chunks.stored_files(session, kind, row_id))
        session.delete(row)  # its chunks and tag links go with it (ON DELETE CASCADE); its history stays
        events.record(session, kind, row_id, events.What.DELETED, user_id=user.user_id, message=row.status)
        session.commit()
    removal = storage.remove(media, files)
    said = f"Deleted {kind} narration #{row_id} and {removal.removed} file(s)."
    return " ".join([said, *(kept.not_done("deleted") for kept in removal.refused)])
