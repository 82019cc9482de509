"""Reading and creating narration rows; the page and the workers share these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Image, Narration, Project, SceneAudio, Status, Story, StoryAudio

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


def get(session: Session, kind: str, row_id: int) -> Narration | None:
    return cast("Narration | None", session.get(model_for(kind), row_id))


def story_narration(session: Session, story_id: int) -> StoryAudio | None:
    """The story's one narration (Django's one-to-one), if it has one."""
    return session.scalars(select(StoryAudio).where(StoryAudio.story_id == story_id)).first()


def new_story_narration(
    session: Session,
    *,
    story: Story,
    prompt: str,
    provider: str,
    model: str,
    voice: str,
    task_id: str,
    user_id: int | None = None,
    priority: int = 0,
    output_format: str = "wav",
    scheduled_at: datetime | None = None,
) -> StoryAudio:
    """Add a queued story narration; the caller commits, then enqueues (never the other way round)."""
    stamp = now()
    row = StoryAudio(
        story_id=story.id,
        project_id=story.project_id,
        prompt=prompt,
        provider=provider,
        model_backend=model,
        voice_style=voice,
        status=Status.QUEUED,
        tags=[],
        task_id=task_id,
        priority=priority,
        output_format=output_format,
        scheduled_at=scheduled_at,
        user_id=user_id,
        created_by_id=user_id,
        updated_by_id=user_id,
        created_at=stamp,
        updated_at=stamp,
    )
    session.add(row)
    session.flush()
    return row


def new_scene_narration(
    session: Session,
    *,
    image: Image,
    prompt: str,
    provider: str,
    model: str,
    voice: str,
    task_id: str,
    user_id: int | None = None,
    priority: int = 0,
    output_format: str = "wav",
    scheduled_at: datetime | None = None,
) -> SceneAudio:
    """Add a queued scene narration; the caller commits, then enqueues."""
    stamp = now()
    row = SceneAudio(
        image_id=image.id,
        prompt=prompt,
        provider=provider,
        model_backend=model,
        voice_style=voice,
        status=Status.QUEUED,
        tags=[],
        task_id=task_id,
        priority=priority,
        output_format=output_format,
        scheduled_at=scheduled_at,
        user_id=user_id,
        created_by_id=user_id,
        updated_by_id=user_id,
        created_at=stamp,
        updated_at=stamp,
    )
    session.add(row)
    session.flush()
    return row
