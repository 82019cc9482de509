"""The compose page, driven by Streamlit's AppTest (no browser): what a user sees and can do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from streamlit.testing.v1 import AppTest

from dashboard.session import KEY
from db.engine import new_session
from db.models import SceneAudio, StoryAudio
from tests.apptest import button
from tests.factories import demo_data, staff_user
from workers.jobs import synthesize
from workers.queue import QUEUE_NAMES

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")


@pytest.fixture
def page(db: str, redis: Redis) -> Iterator[AppTest]:
    demo_data()
    app = AppTest.from_file(APP, default_timeout=30)
    app.session_state[KEY] = staff_user()
    app.run()
    assert not app.exception
    next(s for s in app.selectbox if s.label == "Story").set_value(1).run()  # the lighthouse story
    yield app


def test_the_prompt_starts_as_the_story_text_and_the_estimate_follows_it(page: AppTest) -> None:
    assert page.title[0].value == "Compose a narration"
    prompt = page.text_area[0].value or ""
    assert prompt.startswith("Every night, when the lamp")
    metrics = {m.label: m.value for m in page.metric}
    assert metrics["Characters"] == f"{len(prompt):,}"
    assert metrics["Chunks"] == "1"
    assert metrics["Estimated cost"] == "$0.0000"

    page.text_area[0].set_value("Short text.").run()
    assert {m.label: m.value for m in page.metric}["Characters"] == "11"


def test_submit_queues_one_row_and_the_card_shows_the_finished_audio(page: AppTest, redis: Redis) -> None:
    button(page, "Submit narration").click().run()

    assert not page.exception
    assert page.success[0].value.startswith("Queued story narration #")
    with new_session() as session:
        rows = session.query(StoryAudio).all()
        assert [(r.status, r.provider, r.story_id) for r in rows] == [("queued", "local", 1)]
        row_id = rows[0].id
    assert len(Queue(QUEUE_NAMES[1], connection=redis)) == 1
    assert any("queued" in m.value for m in page.markdown)

    synthesize("story", row_id)  # what the worker does
    page.run()

    assert any("completed" in m.value for m in page.markdown)
    assert page.get("audio"), "the inline player is missing"
    assert page.get("download_button"), "the download of the full file is missing"


def test_a_scene_narration_starts_from_the_image_caption(page: AppTest) -> None:
    page.radio[0].set_value("scene").run()
    assert (page.text_area[0].value or "").startswith("A tall white lighthouse")
    button(page, "Submit narration").click().run()
    with new_session() as session:
        assert [(r.image_id, r.status) for r in session.query(SceneAudio)] == [(1, "queued")]


def test_a_provider_without_a_key_names_the_setting_and_cannot_submit(page: AppTest) -> None:
    provider = next(s for s in page.selectbox if s.label == "Provider")
    provider.set_value("openai").run()

    submit_button = button(page, "Set OPENAI_API_KEY")
    assert submit_button.label == "Set OPENAI_API_KEY to use OpenAI"
    assert submit_button.disabled
    assert "set OPENAI_API_KEY" in page.warning[0].value
    with new_session() as session:
        assert session.query(StoryAudio).count() == 0


def test_empty_text_is_refused_with_a_reason(page: AppTest) -> None:
    page.text_area[0].set_value("   ").run()
    button(page, "Submit narration").click().run()
    assert page.error[0].value.startswith("The text is empty")
    with new_session() as session:
        assert session.query(StoryAudio).count() == 0
