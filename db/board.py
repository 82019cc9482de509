"""A story's board: the story narration, then each scene image of the story in order, each with the
narration that stands for it now. What the story board page shows (`dashboard/pages/board.py`).

A story has one current narration (`tts_storyaudio.story_id`, one-to-one). A scene image may have
been narrated several times (Django does not forbid it): the board shows its newest narration, and
counts the others, which the library lists. Scenes are in the order of their images' ids, the order
the Django app adds them in.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from db.models import CANCELLED, Image, Project, SceneAudio, Status, Story, StoryAudio
from db.quality import failing, flagged, verdict


@dataclass(frozen=True)
class Slot:
    """One line of the board: the story, or one scene image, and the narration that stands for it."""

    kind: str
    target_id: int
    """The story's id, or the scene image's."""
    text: str
    """The story's title, or the scene's caption."""
    image: str | None
    """The scene image's stored path (None for the story, or an image row that names no file)."""
    narration_id: int | None = None
    status: str | None = None
    """queued, processing, completed, failed, or cancelled; None: never narrated."""
    duration_seconds: float | None = None
    qc_passed: bool | None = None
    qc_failing: tuple[str, ...] = ()
    qc_flagged: int = 0
    earlier: int = 0
    """Other narrations of the same scene image, older than the one shown."""
    output_format: str | None = None

    @property
    def missing(self) -> bool:
        """No narration to play, and none on the way: never narrated, failed or cancelled."""
        return self.status not in (Status.QUEUED, Status.PROCESSING, Status.COMPLETED)


@dataclass(frozen=True)
class Board:
    story_id: int
    title: str
    project_id: int | None
    project: str | None
    slots: list[Slot]

    @property
    def story(self) -> Slot:
        return self.slots[0]

    @property
    def scenes(self) -> list[Slot]:
        return self.slots[1:]

    @property
    def missing_scenes(self) -> list[Slot]:
        """The scene images with nothing to play and nothing on the way: what "narrate the missing
        scenes" submits."""
        return [s for s in self.scenes if s.missing]


def _state(status: str, cancelled_at: object) -> str:
    return CANCELLED if status == Status.FAILED and cancelled_at is not None else status


def story_board(session: Session, story_id: int) -> Board | None:
    """The board of one story; None when the story does not exist. Three queries, whatever the
    story's size: the story with its narration, its images, and each image's newest narration."""
    story = session.execute(
        select(Story.id, Story.title, Story.project_id, Project.name)
        .outerjoin(Project, Project.id == Story.project_id)
        .where(Story.id == story_id)
    ).first()
    if story is None:
        return None
    told = session.execute(
        select(
            StoryAudio.id, StoryAudio.status, StoryAudio.cancelled_at, StoryAudio.duration_seconds,
            verdict(StoryAudio), failing(StoryAudio), flagged(StoryAudio), StoryAudio.output_format,
        ).where(StoryAudio.story_id == story_id)
    ).first()  # fmt: skip
    head = Slot("story", story_id, story.title, None)
    if told is not None:
        head = Slot(
            "story", story_id, story.title, None, told[0], _state(told[1], told[2]), told[3],
            told[4], tuple(told[5] or ()), int(told[6]), output_format=told[7],
        )  # fmt: skip
    images = session.execute(
        select(Image.id, Image.caption, Image.image).where(Image.story_id == story_id).order_by(Image.id)
    ).all()
    newest = (
        select(
            SceneAudio.image_id, SceneAudio.id, SceneAudio.status, SceneAudio.cancelled_at,
            SceneAudio.duration_seconds, verdict(SceneAudio), failing(SceneAudio), flagged(SceneAudio),
            (func.count().over(partition_by=SceneAudio.image_id) - 1).label("earlier"), SceneAudio.output_format,
        )
        .where(SceneAudio.image_id.in_([i.id for i in images]))
        .order_by(SceneAudio.image_id, SceneAudio.created_at.desc(), SceneAudio.id.desc())
        .ext(distinct_on(SceneAudio.image_id))
    )  # fmt: skip
    latest = {row[0]: row for row in session.execute(newest)} if images else {}
    scenes = []
    for image in images:
        row = latest.get(image.id)
        if row is None:
            scenes.append(Slot("scene", image.id, image.caption, image.image))
            continue
        scenes.append(
            Slot(
                "scene", image.id, image.caption, image.image, row[1], _state(row[2], row[3]), row[4],
                row[5], tuple(row[6] or ()), int(row[7]), int(row[8]), row[9],
            )
        )  # fmt: skip
    return Board(story.id, story.title, story.project_id, story.name, [head, *scenes])
