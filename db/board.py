"""A story's board: the story narration, then each scene image of the story in order, each with the
narration that stands for it now. What the story board page shows (`dashboard/pages/board.py`).

A story has one current narration (`tts_storyaudio.story_id`, one-to-one). A scene image may have
been narrated several times (Django does not forbid it): the board shows its newest narration, and
counts the others, which the library lists. Scenes are in the order of their images' ids, the order
the Django app adds them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from db.models import Image, Project, SceneAudio, Status, Story, StoryAudio
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
    """Django's status (queued, processing, completed, failed); None: never narrated."""
    duration_seconds: float | None = None
    qc_passed: bool | None = None
    qc_failing: tuple[str, ...] = ()
    qc_flagged: int = 0
    earlier: int = 0
    """Other narrations of the same scene image, older than the one shown."""
    output_format: str | None = None
    cancelled_at: datetime | None = None
    """Set on a `failed` row someone cancelled (the page reads it as cancelled, `dashboard.labels.state`)."""

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


def story_board(session: Session, story_id: int) -> Board | None:
    """The board of one story; None when the story does not exist. Four queries, whatever the
    story's size: the story, its narration, each image with its newest narration, and how many
    narrations each image has."""
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
            "story", story_id, story.title, None, told[0], told[1], told[3],
            told[4], tuple(told[5] or ()), int(told[6]), output_format=told[7], cancelled_at=told[2],
        )  # fmt: skip
    newest = (
        select(
            SceneAudio.id,
            SceneAudio.status,
            SceneAudio.cancelled_at,
            SceneAudio.duration_seconds,
            verdict(SceneAudio).label("qc_passed"),
            failing(SceneAudio).label("qc_failing"),
            flagged(SceneAudio).label("qc_flagged"),
            SceneAudio.output_format,
        )
        .where(SceneAudio.image_id == Image.id)
        .order_by(SceneAudio.created_at.desc(), SceneAudio.id.desc())
        .limit(1)
        .lateral("newest")
    )
    # ix_tts_sceneaudio_image_newest: one index step per image, however many narrations it has
    lines = session.execute(
        select(Image.id.label("image_id"), Image.caption, Image.image.label("stored"), newest)
        .outerjoin(newest, true())
        .where(Image.story_id == story_id)
        .order_by(Image.id)
    ).all()
    told_of = [line.image_id for line in lines if line.id is not None]
    counted = (
        session.execute(
            select(SceneAudio.image_id, func.count())
            .where(SceneAudio.image_id.in_(told_of))
            .group_by(SceneAudio.image_id)
        ).all()
        if told_of
        else []
    )
    narrations = {image_id: int(count) for image_id, count in counted}
    scenes = []
    for line in lines:
        image_id, caption, stored = line.image_id, line.caption, line.stored
        if line.id is None:
            scenes.append(Slot("scene", image_id, caption, stored))
            continue
        scenes.append(
            Slot(
                "scene", image_id, caption, stored, line.id, line.status,
                line.duration_seconds, line.qc_passed, tuple(line.qc_failing or ()), int(line.qc_flagged),
                narrations.get(image_id, 1) - 1, line.output_format, line.cancelled_at,
            )
        )  # fmt: skip
    return Board(story.id, story.title, story.project_id, story.name, [head, *scenes])
