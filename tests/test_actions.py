"""Retry, redo a passage, replace and delete say what they did, and are refused with a reason when not allowed."""

from __future__ import annotations

import io

import pytest
import soundfile
from sqlalchemy import text

from dashboard.views import load_detail, passage_audio
from db.engine import new_session
from db.library import Filters, page
from db.models import Chunk, SceneAudio, StoryAudio
from db.narrations import story_narration
from db.settings import get_settings
from tests.apptest import open_narration
from tests.factories import staff_user
from tests.fake_providers import FakeProviders
from tests.test_long_text import long_story
from tests.test_reliability import OPENAI
from workers.engine.jobs import synthesize
from workers.service import actions
from workers.service.roles import Role
from workers.service.submit import Refused, Request, submit


def test_retry_resumes_a_failed_narration_without_paying_twice(fake: FakeProviders) -> None:
    editor = staff_user("editor")
    row_id = submit(Request(kind="scene", target_id=1, prompt=long_story(9_000), **OPENAI)).row_id
    fake.fail_next("quota")  # one chunk fails for good, the other two finish
    synthesize("scene", row_id)
    assert len([c for c in fake.calls if c.status == 200]) == 2

    assert actions.retry("scene", row_id, editor).startswith(f"Queued scene narration #{row_id} again")
    assert "completed" in synthesize("scene", row_id)
    paid = [c.text for c in fake.calls if c.status == 200]
    assert len(paid) == 3 and len(set(paid)) == 3  # only the missing chunk was requested
    with new_session() as session:
        row = session.get(SceneAudio, row_id)
        assert row is not None and row.updated_by_id == editor.user_id and row.attempts == 1

    assert "only failed or cancelled narrations can be retried" in actions.retry("scene", row_id, editor)


def test_delete_is_for_superusers_and_removes_the_files(fake: FakeProviders) -> None:
    editor = staff_user("editor")
    admin = staff_user("root", role=Role.SUPERUSER)
    row_id = submit(Request(kind="scene", target_id=2, prompt="A quiet lake.", **OPENAI)).row_id
    synthesize("scene", row_id)
    media = get_settings().media_path
    files = [p for p in media.rglob("*") if p.is_file()]
    assert len(files) == 2  # the narration and its one chunk

    assert actions.delete("scene", row_id, editor) == "Only superusers can delete narrations."
    assert actions.delete("scene", row_id, admin) == f"Deleted scene narration #{row_id} and 2 file(s)."
    assert not [p for p in media.rglob("*") if p.is_file()]
    with new_session() as session:
        assert session.get(SceneAudio, row_id) is None
        assert session.query(Chunk).count() == 0
    assert actions.delete("scene", row_id, admin) == f"Scene narration #{row_id} does not exist."


def test_one_passage_is_fixed_and_rejoined_without_paying_for_the_rest(fake: FakeProviders) -> None:
    editor = staff_user("editor")
    text = long_story(9_000)
    row_id = submit(Request(kind="story", target_id=1, prompt=text, **OPENAI)).row_id
    synthesize("story", row_id)
    with new_session() as session:
        before = [c.text for c in session.query(Chunk).order_by(Chunk.idx)]
        first_file = session.get(StoryAudio, row_id).audio_file  # type: ignore[union-attr]
    assert len(before) == 3 and len(fake.calls) == 3
    fixed = before[1].replace(".", "!", 1)  # one sentence now ends differently; its length is unchanged
    shorter = fixed[: fixed.index("!") + 1]  # and the passage is much shorter: later chunks must not move

    message = actions.redo_chunk("story", row_id, 1, shorter, editor)
    assert message.startswith(f"Queued passage 2 of story narration #{row_id} again")
    with new_session() as session:
        row = session.get(StoryAudio, row_id)
        assert row is not None and row.status == "completed" and row.audio_file == first_file  # still playable
    assert "redo completed" in synthesize("story", row_id)

    assert [c.text for c in fake.calls[3:]] == [shorter]  # exactly one paid request, for that passage
    with new_session() as session:
        row = session.get(StoryAudio, row_id)
        assert row is not None and row.status == "completed" and row.updated_by_id == editor.user_id
        assert row.audio_file != first_file and not (get_settings().media_path / str(first_file)).exists()
        assert row.prompt == text.replace(before[1], shorter)
        assert [c.text for c in session.query(Chunk).order_by(Chunk.idx)] == [before[0], shorter, before[2]]
        assert row.audio_metadata is not None and len(row.audio_metadata["chunk_seconds"]) == 3

    assert "has no chunk 9" in actions.redo_chunk("story", row_id, 8, None, editor)
    assert actions.redo_chunk("story", row_id, 0, "   ", editor).startswith("The passage is empty.")
    viewer = staff_user("viewer", role=Role.VIEWER)
    assert actions.redo_chunk("story", row_id, 0, None, viewer) == "Only staff can redo a passage."
    actions.redo_chunk("story", row_id, 0, None, editor)
    assert "Passage 1 of story narration" in (busy := actions.redo_chunk("story", row_id, 2, None, editor))
    assert "is already being narrated again; wait for it, or cancel that redo first." in busy
    queued = submit(Request(kind="scene", target_id=1, prompt="Not started yet.", **OPENAI)).row_id
    assert "is queued; redo a passage once it has completed or failed" in actions.redo_chunk(
        "scene", queued, 0, None, editor
    )


def test_a_replacement_keeps_the_old_audio_until_it_completes(fake: FakeProviders) -> None:
    first = submit(Request(kind="story", target_id=1, prompt="The first telling.", **OPENAI)).row_id
    synthesize("story", first)

    with pytest.raises(Refused, match="Tick “Replace the current narration”"):
        submit(Request(kind="story", target_id=1, prompt="The second telling.", **OPENAI))
    second = submit(Request(kind="story", target_id=1, prompt="The second telling.", replace=True, **OPENAI)).row_id
    with pytest.raises(Refused, match=f"Narration #{second} is already replacing #{first}"):
        submit(Request(kind="story", target_id=1, prompt="A third.", replace=True, **OPENAI))
    with new_session() as session:
        assert story_narration(session, 1).id == first  # type: ignore[union-attr]
        rows, _ = page(session, Filters(story_id=1))
        assert sorted(r.id for r in rows) == [first, second]  # the pending one is listed under its story

    synthesize("story", second)
    with new_session() as session:
        assert story_narration(session, 1).id == second  # type: ignore[union-attr]
        old = session.get(StoryAudio, first)
        assert old is not None and old.story_id is None and old.status == "completed"
        assert (get_settings().media_path / str(old.audio_file)).is_file()  # history keeps its audio
        rows, _ = page(session, Filters(story_id=1))
        title = "The Lighthouse Keeper's Cat"
        assert [(r.id, r.title) for r in rows] == [(second, title), (first, title)]
    detail = load_detail("story", first)
    assert detail is not None and detail.replaced_by_id == second and detail.target_id == 1


def test_a_story_deleted_while_its_narration_runs_still_completes(fake: FakeProviders) -> None:
    row_id = submit(Request(kind="story", target_id=2, prompt="Soon there is no story.", **OPENAI)).row_id
    with new_session() as session:  # what the Django app does when someone deletes the story
        session.execute(text("DELETE FROM images_image WHERE story_id = 2"))
        session.execute(text("DELETE FROM story_story WHERE id = 2"))
        session.commit()
    assert "completed" in synthesize("story", row_id)
    detail = load_detail("story", row_id)
    assert detail is not None and detail.status == "completed" and detail.subject == "a story that was deleted"
    assert detail.target_id is None  # the page offers no "duplicate" for it, and says why


def test_each_narrated_passage_can_be_heard_on_its_own(fake: FakeProviders) -> None:
    row_id = submit(Request(kind="scene", target_id=1, prompt=long_story(9_000), **OPENAI)).row_id
    fake.fail_next("quota")  # one passage fails for good; the other two are narrated
    fake.latency = 0.5  # every answer takes this long, so all three are sent before the failure is back
    synthesize("scene", row_id)
    detail = load_detail("scene", row_id)
    assert detail is not None and len(detail.chunks) == 3
    heard, missing = [], []
    for chunk in detail.chunks:
        wav = passage_audio(chunk)
        if chunk.status != "done":
            assert wav is None
            missing.append(chunk.idx + 1)
            continue
        assert wav is not None
        samples, rate = soundfile.read(io.BytesIO(wav))
        assert rate == chunk.sample_rate and abs(len(samples) / rate - (chunk.seconds or 0)) < 0.01
        heard.append(chunk.idx + 1)
    assert len(heard) == 2 and len(missing) == 1

    page = open_narration(staff_user("reader", role=Role.VIEWER), "scene", row_id)  # listening is for every role
    passage = next(n for n in page.number_input if n.label == "Passage")
    passage.set_value(heard[-1]).run()
    assert len(page.get("audio")) == 1  # that passage (the failed narration itself has no player)
    passage.set_value(missing[0]).run()
    assert not page.get("audio") and f"Passage {missing[0]} is not narrated yet." in [c.value for c in page.caption]
