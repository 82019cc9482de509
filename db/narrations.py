"""Reading and creating narration rows; the page and the workers share these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Image, Narration, Project, SceneAudio, Status, Story, StoryAudio, Tag, Theme

Kind = Literal["story", "scene"]
MODELS: dict[str, type[StoryAudio] | type[SceneAudio]] = {"story": StoryAudio, "scene": SceneAudio}


def model_for(kind: str) -> type[StoryAudio] | type[SceneAudio]:
    """The model class for a job's `kind`; an unknown kind is a programming error."""
    try:
        return MODELS[kind]
    except KeyError:
        raise ValueError(f"unknown narration kind {kind!r}; expected 'story' or 'scene'") from None


def now() -> datetime:
    return datetime.now(UTC)


def projects(session: Session) -> list[Project]:
    return list(session.scalars(select(Project).order_by(Project.name)))


def stories(session: Session, *, project_id: int | None = None) -> list[Story]:
    query = select(Story).order_by(Story.title)
    if project_id is not None:
        query = query.where(Story.project_id == project_id)
    return list(session.scalars(query))


def images(session: Session, *, story_id: int) -> list[Image]:
    return list(session.scalars(select(Image).where(Image.story_id == story_id).order_by(Image.id)))


def theme_names(session: Session) -> list[str]:
    return list(session.scalars(select(Theme.name).order_by(Theme.name)))


def tag_names(session: Session) -> list[str]:
    return list(session.scalars(select(Tag.name).order_by(Tag.name)))


@dataclass(frozen=True)
class SceneRow:
    """One scene narration of a batch, with the caption that says which scene it is."""

    row_id: int
    image_id: int
    caption: str
    status: str
    cancelled_at: datetime | None


def scene_rows(session: Session, row_ids: list[int]) -> list[SceneRow]:
    """These scene narrations in scene order (for a batch's progress, one line per scene)."""
    query = (
        select(SceneAudio.id, SceneAudio.image_id, Image.caption, SceneAudio.status, SceneAudio.cancelled_at)
        .join(Image, Image.id == SceneAudio.image_id)
        .where(SceneAudio.id.in_(row_ids))
        .order_by(SceneAudio.image_id, SceneAudio.id)
    )
    return [SceneRow(*row) for row in session.execute(query)]


def get(session: Session, kind: str, row_id: int) -> Narration | None:
    return cast("Narration | None", session.get(model_for(kind), row_id))


def story_narration(session: Session, story_id: int) -> StoryAudio | None:
    """The story's one narration (Django's one-to-one), if it has one."""
    return session.scalars(select(StoryAudio).where(StoryAudio.story_id == story_id)).first()


def pending_replacement(session: Session, narration_id: int) -> StoryAudio | None:
    """A replacement of this story narration that is still queued or running, if any."""
    return session.scalars(
        select(StoryAudio).where(
            StoryAudio.replaces_id == narration_id, StoryAudio.status.in_([Status.QUEUED, Status.PROCESSING])
        )
    ).first()


@dataclass(frozen=True)
class NewNarration:
    """What a new narration row needs besides its story or image."""

    prompt: str
    provider: str
    model: str
    voice: str
    task_id: str
    user_id: int | None = None
    priority: int = 0
    output_format: str = "wav"
    scheduled_at: datetime | None = None
    instructions: str | None = None
    speed: float | None = None
    theme: str | None = None
    tags: tuple[str, ...] = ()
    mastering: str | None = None
    listen_back: bool = False


def add_narration(
    session: Session, target: Story | Image, spec: NewNarration, *, replaces: StoryAudio | None = None
) -> Narration:
    """Add a queued narration of a story or a scene image; the caller commits, then enqueues
    (never the other way round). Every NOT NULL column of Django's is written; the theme and tags
    go into Django's columns, and the triggers link them to the normalized tables.

    A replacement of `replaces` (the story's current narration) is written without `story_id`:
    it takes the story over when it completes (`lifecycle.complete`)."""
    stamp = now()
    owner: dict[str, Any]
    if isinstance(target, Story):
        owner = {
            "story_id": None if replaces else target.id,
            "narrated_story_id": target.id,
            "project_id": target.project_id,
        }
        if replaces is not None:
            owner["replaces_id"] = replaces.id
    else:
        owner = {"image_id": target.id}
    row = (StoryAudio if isinstance(target, Story) else SceneAudio)(
        **owner,
        prompt=spec.prompt,
        provider=spec.provider,
        model_backend=spec.model,
        voice_style=spec.voice,
        status=Status.QUEUED,
        theme=spec.theme or None,
        tags=list(spec.tags),
        task_id=spec.task_id,
        priority=spec.priority,
        output_format=spec.output_format,
        scheduled_at=spec.scheduled_at,
        instructions=spec.instructions,
        speed=spec.speed,
        mastering=spec.mastering,
        listen_back=spec.listen_back or None,
        user_id=spec.user_id,
        created_by_id=spec.user_id,
        updated_by_id=spec.user_id,
        created_at=stamp,
        updated_at=stamp,
    )
    session.add(row)
    session.flush()
    return row
