"""Reading and creating narration rows; the page and the workers share these.

The two kinds of narration, story and scene, live in two tables that differ in a handful of
ways; `NarrationKind` states each difference once (`KINDS`), and `both` combines the tables.
Every other module asks these instead of testing `kind == "story"`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import Column, ColumnElement, CompoundSelect, Select, Table, select, union_all
from sqlalchemy.orm import InstrumentedAttribute, Session

from db.models import (
    Chunk,
    Image,
    Narration,
    Project,
    SceneAudio,
    Status,
    Story,
    StoryAudio,
    Tag,
    Theme,
    sceneaudio_tags,
    storyaudio_tags,
)

Kind = Literal["story", "scene"]
NarrationModel = type[StoryAudio] | type[SceneAudio]
Rows = Select[*tuple[Any, ...]]
"""A select of any columns (one kind's branch of a UNION ALL)."""


def _stories_of_project(project: int | Select[Any]) -> Select[Any]:
    """The stories of one project, or of the projects a query lists."""
    if isinstance(project, Select):
        return select(Story.id).where(Story.project_id.in_(project))
    return select(Story.id).where(Story.project_id == project)


@dataclass(frozen=True)
class NarrationKind:
    """Everything that differs between a story narration and a scene narration, in one place.

    The story of a narration is the project rule's anchor: a story narration is of the story its
    replacement chain names (`narrated_story_id`, never cleared by a takeover), a scene narration
    of its image's story. A narration belongs to that story's project, whatever project the row
    itself was stamped with when it was asked for: scene rows have no project of their own, so
    this is the one rule both kinds can share, and a story moved to another project takes all of
    its narrations along (README, "Figures").
    """

    name: Kind
    model: NarrationModel
    chunk_owner: InstrumentedAttribute[int | None]
    """The chunk's foreign key to a narration of this kind."""
    tag_links: Table
    """Django's many-to-many table between this kind and `tts_tag`."""
    tag_link_column: Column[int]
    """The link table's column naming the narration."""
    title: InstrumentedAttribute[str]
    """What people call the narrated thing: the story's title, or the scene's caption (valid in a
    query `with_story` made)."""
    with_story: Callable[[Select[Any]], Select[Any]]
    """Joins a select from `model` to its story (and, for a scene, its image): after it, `Story`
    columns are the narration's story (NULL when that was deleted) and `title` is readable."""
    in_project: Callable[[int | Select[Any]], ColumnElement[bool]]
    """The rows of this kind that belong to a project, or to any of the projects a query lists (see
    the class docstring); a semi-join, so it needs no join in the query that uses it."""
    in_story: Callable[[int], ColumnElement[bool]]
    """The rows of this kind that are of a story (as `with_story` joins it), needing no join either:
    a count that joins nothing can be answered from an index alone (`db.library.page`)."""
    folder: str
    """Where this kind's audio files live under MEDIA_ROOT (Django's `upload_to`)."""

    def owns(self, row_id: int) -> ColumnElement[bool]:
        """The chunks of one narration of this kind."""
        return self.chunk_owner == row_id


STORY = NarrationKind(
    name="story",
    model=StoryAudio,
    chunk_owner=Chunk.story_audio_id,
    tag_links=storyaudio_tags,
    tag_link_column=storyaudio_tags.c.storyaudio_id,
    title=Story.title,
    with_story=lambda query: query.outerjoin(Story, Story.id == StoryAudio.narrated_story_id),
    in_project=lambda project_id: StoryAudio.narrated_story_id.in_(_stories_of_project(project_id)),
    in_story=lambda story_id: StoryAudio.narrated_story_id == story_id,
    folder="tts/story",
)
SCENE = NarrationKind(
    name="scene",
    model=SceneAudio,
    chunk_owner=Chunk.scene_audio_id,
    tag_links=sceneaudio_tags,
    tag_link_column=sceneaudio_tags.c.sceneaudio_id,
    title=Image.caption,
    with_story=lambda query: query.join(Image, Image.id == SceneAudio.image_id).outerjoin(
        Story, Story.id == Image.story_id
    ),
    in_project=lambda project_id: SceneAudio.image_id.in_(
        select(Image.id).where(Image.story_id.in_(_stories_of_project(project_id)))
    ),
    in_story=lambda story_id: SceneAudio.image_id.in_(select(Image.id).where(Image.story_id == story_id)),
    folder="tts/scene",
)
KINDS: dict[str, NarrationKind] = {k.name: k for k in (STORY, SCENE)}
"""Every kind by name, story first (the order every UNION ALL lists them in)."""
MODELS: dict[str, NarrationModel] = {name: k.model for name, k in KINDS.items()}


def kind_of(kind: str) -> NarrationKind:
    """The descriptor of a job's `kind`; an unknown kind is a programming error."""
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown narration kind {kind!r}; expected 'story' or 'scene'") from None


def model_for(kind: str) -> NarrationModel:
    """The model class for a job's `kind`."""
    return kind_of(kind).model


def both(branch: Callable[[NarrationKind], Rows]) -> CompoundSelect[*tuple[Any, ...]]:
    """UNION ALL of one select per kind, each built (and filtered) on its own table by `branch`, so
    each table's indexes serve its half; group or order outside."""
    return union_all(*(branch(k) for k in KINDS.values()))


def story_of(session: Session, kind: str, row_id: int) -> Story | None:
    """The story a narration is of (`NarrationKind.with_story`); None when it was deleted."""
    k = kind_of(kind)
    return session.scalars(k.with_story(select(Story).select_from(k.model)).where(k.model.id == row_id)).first()


def title_of(session: Session, kind: str, row_id: int) -> str | None:
    """The story's title or the scene's caption (`NarrationKind.title`); None when it is gone."""
    k = kind_of(kind)
    title = session.scalar(k.with_story(select(k.title).select_from(k.model)).where(k.model.id == row_id))
    return str(title) if title is not None else None


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
    row = (STORY if isinstance(target, Story) else SCENE).model(
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
