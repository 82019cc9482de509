"""Narrate every scene of a story in one action: one row per scene image, each a normal submission.

Scenes that already have a completed narration are skipped unless asked (paid audio is not
redone by accident), and so are scenes with one still queued or running (it would be a double).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlalchemy import select

from db.engine import new_session
from db.models import Image, SceneAudio, Status, Story
from workers import access
from workers.submit import Refused, Request, Submitted, submit


@dataclass(frozen=True)
class Batch:
    """What one bulk action did, scene by scene."""

    story_title: str
    submitted: list[Submitted] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    """Image id → why it was not narrated."""

    @property
    def message(self) -> str:
        parts = [f"Queued {len(self.submitted)} scene narration(s) of “{self.story_title}”"]
        if self.skipped:
            reasons = sorted(set(self.skipped.values()))
            parts.append(f"skipped {len(self.skipped)} ({'; '.join(reasons)})")
        return ", ".join(parts) + "."


def _busy_images(image_ids: list[int], redo_completed: bool) -> dict[int, str]:
    """Images that already have a narration that counts: running, or (unless redoing) completed."""
    statuses = [Status.QUEUED, Status.PROCESSING] + ([] if redo_completed else [Status.COMPLETED])
    with new_session() as session:
        rows = session.execute(
            select(SceneAudio.image_id, SceneAudio.status).where(
                SceneAudio.image_id.in_(image_ids), SceneAudio.status.in_(statuses)
            )
        ).all()
    busy: dict[int, str] = {}
    for image_id, status in rows:
        if status == Status.COMPLETED:
            busy.setdefault(image_id, "already narrated")
        else:
            busy[image_id] = "one is still queued or running"
    return busy


def narrate_scenes(story_id: int, template: Request, *, redo_completed: bool = False) -> Batch:
    """Submit one scene narration per image of the story, each prompted by its caption.

    `template` carries the voice and options; its kind, target and prompt are filled per scene.
    Raises Refused when the story is gone or has no scene images, or the account may not submit."""
    if template.user_id is not None and (refused := access.refusal(template.user_id, "submit narrations")):
        raise Refused(refused)
    with new_session() as session:
        story = session.get(Story, story_id)
        if story is None:
            raise Refused(f"Story #{story_id} no longer exists. Pick another story.")
        title = story.title
        scenes = session.execute(
            select(Image.id, Image.caption).where(Image.story_id == story_id).order_by(Image.id)
        ).all()
    if not scenes:
        raise Refused(f"“{title}” has no scene images to narrate.")
    batch = Batch(title, skipped=_busy_images([image_id for image_id, _ in scenes], redo_completed))
    for image_id, caption in scenes:
        if image_id in batch.skipped:
            continue
        once = f"{template.once_key}:{image_id}" if template.once_key else None
        try:
            batch.submitted.append(
                submit(replace(template, kind="scene", target_id=image_id, prompt=caption, once_key=once))
            )
        except Refused as refusal:
            batch.skipped[image_id] = str(refusal).split(". ")[0]
    return batch
