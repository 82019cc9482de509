"""Submitting a narration: validate, write the queued row, commit, then enqueue.

Besides what a worker could not synthesize (`workers.engine.validation`), submit refuses what the desk's
limits forbid: a person's queued rows past MAX_QUEUED_PER_USER, and, with REFUSE_OVER_BUDGET on, a
paid narration that would take the month past MONTHLY_BUDGET_USD.

The page calls this and shows `Submitted.message`; every refusal is a sentence that says what to
change. A Redis outage does not lose the submission: the row is saved as queued and a worker's
reconciler enqueues it once Redis answers again.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import events, lexicon
from db.engine import new_session
from db.models import Image, Narration, SceneAudio, Status, Story, StoryAudio
from db.narrations import Kind, NewNarration, add_narration, pending_replacement, story_narration
from db.settings import get_settings
from workers.engine import budget, catalogue, validation
from workers.engine.pronounce import Lexicon
from workers.engine.queue import enqueue, new_task_id
from workers.redis_connection import redis
from workers.service import access

log = logging.getLogger(__name__)

LABEL_CHARS = 50  # tts_tag.name is varchar(50); themes allow 100, but one rule is easier to say
ONCE_SECONDS = 600


class Refused(ValueError):
    """The submission was not accepted; nothing was written. The message says why and what to do."""


@dataclass(frozen=True)
class Request:
    """What a person asked for on the compose page."""

    kind: Kind
    target_id: int  # a story id for "story", an image id for "scene"
    prompt: str
    provider: str
    model: str
    voice: str
    priority: int = 0
    user_id: int | None = None
    output_format: str = "wav"
    scheduled_at: datetime | None = None
    instructions: str | None = None
    speed: float | None = None
    theme: str | None = None
    tags: tuple[str, ...] = ()
    replace: bool = False
    """For a story that already has a narration: make a replacement (the old audio stays until it completes)."""
    once_key: str | None = None
    """The page's token for this form: a second submit with the same token (a double-click) is refused."""
    mastering: str | None = None
    """The mastering profile (workers/engine/mastering.py); None: the desk's default when the worker runs it."""
    listen_back: bool = False
    """Transcribe each passage after synthesis and compare it with its text (needs an OpenAI key)."""
    copy_of: int | None = None
    """The narration (of the same kind) this one duplicates: both histories say so."""


@dataclass(frozen=True)
class Submitted:
    kind: Kind
    row_id: int
    task_id: str
    enqueued: bool
    scheduled_at: datetime | None = None

    @property
    def waiting_for_redis(self) -> bool:
        """Saved, due now, but not on a queue yet: the reconciler will enqueue it."""
        return not self.enqueued and self.scheduled_at is None

    @property
    def message(self) -> str:
        if self.scheduled_at is not None:
            return (
                f"Scheduled {self.kind} narration #{self.row_id} for {self.scheduled_at:%Y-%m-%d %H:%M %Z}; "
                "a worker starts it then."
            )
        if self.enqueued:
            return f"Queued {self.kind} narration #{self.row_id}."
        return (
            f"Saved {self.kind} narration #{self.row_id} as queued, but Redis is unreachable right now. "
            "A worker will pick it up as soon as Redis is back; nothing needs to be submitted again."
        )


def validate(request: Request) -> catalogue.Model:
    """Refuse what a worker could not synthesize (the rules the worker applies to every row too,
    `workers.engine.validation`), and what only a submission has; returns the catalogue model."""
    try:
        checked = validation.check_asked(get_settings(), request)
    except validation.Invalid as invalid:
        raise Refused(str(invalid)) from None
    for label in (request.theme or "", *request.tags):
        if len(label) > LABEL_CHARS:
            raise Refused(f"“{label[:40]}…” is {len(label)} characters; themes and tags take at most {LABEL_CHARS}.")
    if request.scheduled_at is not None and request.scheduled_at.tzinfo is None:
        raise Refused("The start time needs a time zone.")
    openai = catalogue.provider("openai")
    if request.listen_back and openai is not None and catalogue.missing_key(openai, get_settings()):
        raise Refused("The listen-back check needs OpenAI, which is not set up on this desk: untick “Listen back”.")
    return checked.model


def _only_once(key: str | None) -> None:
    """Refuse a repeat of the same form submission; without Redis, submit anyway (the row matters more)."""
    if not key:
        return
    try:
        first = redis().set(f"nd:submit:{key}", "1", nx=True, ex=ONCE_SECONDS)
    except RedisError as error:
        log.warning("double-submit guard unavailable (%s)", error)
        return
    if not first:
        raise Refused("This was already submitted (a double-click?); the narration is in the card below.")


def _forget(key: str | None) -> None:
    """Give the form's token back after a refusal, so the corrected form can be submitted."""
    if key:
        with contextlib.suppress(RedisError):
            redis().delete(f"nd:submit:{key}")


QUEUED_LOCK = 0x6E64_7571  # "ndqu": the advisory-lock namespace of "count one person's waiting rows"


def _within_cap(session: Session, user_id: int | None) -> None:
    """Refuse a submission past MAX_QUEUED_PER_USER rows queued or running by this person (the
    `created_by_id` submit records). Counted under a per-person lock held until commit, so two
    submits at once cannot both take the last place."""
    if user_id is None:
        return
    cap = get_settings().max_queued_per_user
    session.execute(select(func.pg_advisory_xact_lock(QUEUED_LOCK, user_id)))
    waiting = sum(
        session.scalar(
            select(func.count())
            .select_from(model)
            .where(model.created_by_id == user_id, model.status.in_([Status.QUEUED, Status.PROCESSING]))
        )
        or 0
        for model in (StoryAudio, SceneAudio)
    )
    if waiting >= cap:
        raise Refused(
            f"You have {waiting:,} narrations queued or running, the most one person may have waiting "
            f"({cap:,}). Wait for some to finish, or cancel ones you no longer need, then submit again."
        )


def _story_slot(session: Session, story: Story, replace: bool) -> StoryAudio | None:
    """The narration a new one replaces (None: the story has none). Refuses what the one-to-one forbids."""
    current = story_narration(session, story.id)
    if current is None:
        return None
    if not replace:
        raise Refused(
            f"“{story.title}” already has narration #{current.id}; each story has one. Tick “Replace the "
            "current narration” to make a new one: the current audio stays until the new one completes."
        )
    if current.status in (Status.QUEUED, Status.PROCESSING):
        raise Refused(
            f"Narration #{current.id} of “{story.title}” is still {current.status}; wait for it or cancel it, "
            "then replace it."
        )
    running = pending_replacement(session, current.id)
    if running is not None:
        raise Refused(f"Narration #{running.id} is already replacing #{current.id}; wait for it or cancel it.")
    return current


def _save(request: Request, spec: NewNarration) -> int:
    """Write the queued row and commit; returns its id. Raises Refused with a reason."""
    with new_session() as session:
        target: Story | Image | None
        replaces = None
        if request.kind == "story":
            target = session.get(Story, request.target_id, with_for_update=True)
            if target is None:
                raise Refused(f"Story #{request.target_id} no longer exists. Pick another story.")
            replaces = _story_slot(session, target, request.replace)
        else:
            target = session.get(Image, request.target_id)
            if target is None:
                raise Refused(f"Scene image #{request.target_id} no longer exists. Pick another image.")
        _within_cap(session, request.user_id)
        row = add_narration(session, target, spec, replaces=replaces)
        _record_submitted(session, request, row, replaces)
        row_id = row.id
        try:
            session.commit()
        except IntegrityError:
            # Two submits of the same story at once (a double-click): the one-to-one lets one through.
            raise Refused("This story already has a narration; each story has one. Open it instead.") from None
    return row_id


def _record_submitted(session: Session, request: Request, row: Narration, replaces: StoryAudio | None) -> None:
    """The new row's SUBMITTED event (at its `created_at`), and a DUPLICATED one on the narration it copies."""
    row_id = row.id
    said = [f"a copy of #{request.copy_of}"] if request.copy_of is not None else []
    said += [f"to replace #{replaces.id}"] if replaces is not None else []
    said += [f"scheduled for {request.scheduled_at:%Y-%m-%d %H:%M %Z}"] if request.scheduled_at is not None else []
    message = ", ".join(said) or None
    events.record(
        session,
        request.kind,
        row_id,
        events.What.SUBMITTED,
        user_id=request.user_id,
        message=message,
        at=row.created_at,
    )
    if request.copy_of is not None:
        copied = f"as {request.kind} narration #{row_id}"
        events.record(
            session, request.kind, request.copy_of, events.What.DUPLICATED, user_id=request.user_id, message=copied
        )


def _spoken_characters(request: Request) -> int:
    """How many characters the provider will be sent: the text with its project's lexicon applied
    (what the budget counts, as compose's estimate does)."""
    with new_session() as session:
        story_id = (
            request.target_id
            if request.kind == "story"
            else session.scalar(select(Image.story_id).where(Image.id == request.target_id))
        )
        project_id = session.scalar(select(Story.project_id).where(Story.id == story_id)) if story_id else None
        spoken = Lexicon(lexicon.entries(session, project_id))
    return len(spoken.apply(request.prompt))


def submit(request: Request) -> Submitted:
    """Validate, commit the queued row, then enqueue its job. Raises Refused with a reason.

    A row scheduled for later is only committed: the reconciler enqueues it when it is due.
    """
    if request.user_id is not None and (refused := access.refusal(request.user_id, "submit narrations")):
        raise Refused(refused)
    model = validate(request)
    settings = get_settings()
    heard_with = settings.listen_back_model if request.listen_back else None
    over = budget.refusal(
        settings, catalogue.narration_cost_usd(model, _spoken_characters(request), listen_back_model=heard_with)
    )
    if over:
        raise Refused(over)
    _only_once(request.once_key)
    task_id = new_task_id()
    spec = NewNarration(
        prompt=request.prompt,
        provider=request.provider,
        model=request.model,
        voice=request.voice,
        task_id=task_id,
        user_id=request.user_id,
        priority=request.priority,
        output_format=request.output_format,
        scheduled_at=request.scheduled_at,
        instructions=request.instructions or None,
        speed=request.speed,
        theme=(request.theme or "").strip() or None,
        tags=tuple(dict.fromkeys(t.strip() for t in request.tags if t.strip())),
        mastering=request.mastering,
        listen_back=request.listen_back,
    )
    try:
        row_id = _save(request, spec)
    except Exception:
        _forget(request.once_key)
        raise
    if request.scheduled_at is not None and request.scheduled_at > datetime.now(UTC):
        return Submitted(request.kind, row_id, task_id, enqueued=False, scheduled_at=request.scheduled_at)
    try:
        enqueue(request.kind, row_id, task_id=task_id, priority=request.priority)
    except RedisError as error:
        log.warning("enqueue of %s #%s failed, the reconciler will retry: %s", request.kind, row_id, error)
        return Submitted(request.kind, row_id, task_id, enqueued=False)
    return Submitted(request.kind, row_id, task_id, enqueued=True)
