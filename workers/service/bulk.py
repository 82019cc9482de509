"""Narrate every scene of a story in one action: one row per scene image, each a normal submission.

Scenes that already have a completed narration are skipped unless asked (paid audio is not
redone by accident), and so are scenes with one still queued or running (it would be a double).

One action submits at most MAX_BULK_ROWS scenes, the first ones in order, and says how many are
left, rather than refusing: a staff member who asked for "all scenes" wants them narrated, and
clicking again queues the next ones, since the ones queued now are skipped as running. That is
how retry-all behaves too. With REFUSE_OVER_BUDGET on, the whole batch is priced first and
refused as one if it would take the month past the budget: half a story's scenes is no use.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlalchemy import select

from db import lexicon
from db.engine import new_session
from db.models import Image, SceneAudio, Status, Story
from db.settings import get_settings
from workers.engine import budget, catalogue
from workers.engine.pronounce import Lexicon
from workers.service import access
from workers.service.submit import Refused, Request, Submitted, submit


@dataclass(frozen=True)
class Batch:
    """What one bulk action did, scene by scene."""

    story_title: str
    submitted: list[Submitted] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    """Image id → why it was not narrated."""
    left: int = 0
    """Scenes to narrate beyond this action's `most`."""
    most: int = 0
    """MAX_BULK_ROWS when the action ran."""

    @property
    def message(self) -> str:
        parts = [f"Queued {len(self.submitted)} scene narration(s) of “{self.story_title}”"]
        if self.skipped:
            reasons = sorted(set(self.skipped.values()))
            parts.append(f"skipped {len(self.skipped)} ({'; '.join(reasons)})")
        said = ", ".join(parts) + "."
        if self.left:
            said += (
                f" {self.left:,} more scene(s) were not queued: one action queues at most {self.most:,} "
                "(MAX_BULK_ROWS). Click again to queue the next ones."
            )
        return said


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
    Raises Refused when the story is gone, has no scene images, the batch is over the budget, or the
    account may not submit."""
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
        spoken = Lexicon(lexicon.entries(session, story.project_id))  # priced as sent, as submit prices one
    if not scenes:
        raise Refused(f"“{title}” has no scene images to narrate.")
    most = get_settings().max_bulk_rows
    skipped = _busy_images([image_id for image_id, _ in scenes], redo_completed)
    todo = [(image_id, caption) for image_id, caption in scenes if image_id not in skipped]
    batch = Batch(title, skipped=skipped, left=max(0, len(todo) - most), most=most)
    todo = todo[:most]
    model = catalogue.model(template.provider, template.model)
    heard_with = get_settings().listen_back_model if template.listen_back else None
    characters = sum(len(spoken.apply(caption)) for _, caption in todo)
    cost = catalogue.narration_cost_usd(model, characters, listen_back_model=heard_with) if model else 0.0
    over = budget.refusal(get_settings(), cost)
    if over:
        raise Refused(f"These {len(todo):,} scenes cost about ${cost:,.2f} together. {over}")
    for image_id, caption in todo:
        once = f"{template.once_key}:{image_id}" if template.once_key else None
        try:
            batch.submitted.append(
                submit(replace(template, kind="scene", target_id=image_id, prompt=caption, once_key=once))
            )
        except Refused as refusal:
            batch.skipped[image_id] = str(refusal).split(". ")[0]
    return batch
