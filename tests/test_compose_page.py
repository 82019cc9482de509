"""The compose page, driven by Streamlit's AppTest (no browser): what a user sees and can do."""

from __future__ import annotations

from collections.abc import Iterator

import pyloudnorm
import pytest
import soundfile
from redis import Redis
from rq import Queue
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from dashboard.session import KEY
from db.engine import get_engine, new_session
from db.models import SceneAudio, StoryAudio
from db.settings import get_settings
from tests.apptest import APP, button, labels, shown, texts
from tests.factories import LOCAL, billed, demo_data, staff_user
from workers.engine.jobs import synthesize
from workers.engine.queue import QUEUE_NAMES
from workers.engine.validation import MAX_PROMPT_CHARS
from workers.service.roles import Role
from workers.service.submit import Request, submit


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
    page.text_area[0].set_value("The lamp was lit.").run()  # narrated by the local voice: kept short
    button(page, "Submit narration").click().run()

    assert not page.exception
    assert shown(page.success[0].value).startswith("Queued story narration #")
    with new_session() as session:
        rows = session.query(StoryAudio).all()
        assert [(r.status, r.provider, r.story_id) for r in rows] == [("queued", "local", 1)]
        row_id = rows[0].id
    assert len(Queue(QUEUE_NAMES[1], connection=redis)) == 1
    assert any("queued" in m.value for m in page.markdown)
    (link,) = page.get("page_link")  # to its page, where each passage plays as soon as it is narrated
    assert link.proto.page.endswith("narration") and f"id={row_id}" in link.proto.query_string

    synthesize("story", row_id)  # what the worker does
    page.run()

    assert any("completed" in m.value for m in page.markdown)
    assert page.get("audio"), "the inline player is missing"
    assert page.get("link_button"), "the download of the full file is missing"


def test_a_scene_narration_starts_from_the_image_caption(page: AppTest) -> None:
    page.radio[0].set_value("scene").run()
    assert (page.text_area[0].value or "").startswith("A tall white lighthouse")
    button(page, "Submit narration").click().run()
    with new_session() as session:
        assert [(r.image_id, r.status) for r in session.query(SceneAudio)] == [(1, "queued")]


NOT_SET_UP = "OpenAI is not set up on this desk; ask an administrator."


@pytest.mark.parametrize("role", [Role.STAFF, Role.SUPERUSER])
def test_a_provider_without_a_key_says_whom_to_ask_and_the_button_says_why_it_is_off(
    db: str, redis: Redis, role: Role
) -> None:
    """Staff are told to ask an administrator; only a superuser, who can set it, reads the setting's
    name and where it goes. The disabled button says why, instead of just greying out."""
    demo_data()
    page = AppTest.from_file(APP, default_timeout=30)
    page.session_state[KEY] = staff_user(role=role)
    page.run()
    next(s for s in page.selectbox if s.label == "Provider").set_value("openai").run()

    submit_button = button(page, "Cannot submit")
    assert submit_button.label == "Cannot submit: OpenAI is not set up"
    assert submit_button.disabled
    (warning,) = texts(page, "warning")
    assert warning.startswith(NOT_SET_UP)
    assert ("OPENAI_API_KEY" in warning) is (role is Role.SUPERUSER)
    assert (".streamlit/secrets.toml" in warning) is (role is Role.SUPERUSER)
    with new_session() as session:
        assert session.query(StoryAudio).count() == 0


def test_empty_text_is_refused_with_a_reason(page: AppTest) -> None:
    page.text_area[0].set_value("   ").run()
    button(page, "Submit narration").click().run()
    assert shown(page.error[0].value).startswith("The text is empty")
    with new_session() as session:
        assert session.query(StoryAudio).count() == 0


def test_theme_and_tags_come_from_the_normalized_tables(page: AppTest) -> None:
    """Picking is tested here; typing a new one (accept_new_options) in the browser test, since AppTest
    cannot set a value that is not among the options."""
    submit(Request(kind="scene", target_id=4, prompt="An owl.", theme="bedtime", tags=("calm", "sea"), **LOCAL))
    page.run()
    next(s for s in page.selectbox if s.label == "Theme").set_value("bedtime")
    next(m for m in page.multiselect if m.label == "Tags").set_value(["calm", "sea"])
    button(page, "Submit narration").click().run()
    assert not page.exception
    with new_session() as session:
        row = session.query(StoryAudio).one()
        assert (row.theme, row.tags) == ("bedtime", ["calm", "sea"])
        assert row.theme_id is not None


def test_start_later_schedules_instead_of_queueing(page: AppTest, redis: Redis) -> None:
    page.checkbox(key="start-later").check().run()
    button(page, "Submit narration").click().run()
    assert shown(page.success[0].value).startswith("Scheduled story narration #")
    with new_session() as session:
        assert session.query(StoryAudio).one().scheduled_at is not None
    assert all(len(Queue(name, connection=redis)) == 0 for name in QUEUE_NAMES)  # the reconciler enqueues it then


def test_composing_again_offers_to_replace_the_story_narration(page: AppTest) -> None:
    page.text_area[0].set_value("The lamp was lit.").run()  # narrated twice by the local voice: kept short
    button(page, "Submit narration").click().run()
    with new_session() as session:
        first = session.query(StoryAudio).one().id
    synthesize("story", first)
    page.run()
    (note,) = texts(page, "info")
    assert f"already has narration #{first} (completed)" in note
    assert "Submit is refused unless “Replace the current narration” is ticked" in note  # what submit does
    button(page, "Submit narration").click().run()
    assert "Tick “Replace the current narration”" in texts(page, "error")[0]
    page.checkbox(key="replace-1").check().run()
    (note,) = texts(page, "info")
    assert f"#{first} keeps playing, here and in the storytelling app, until the new one completes" in note
    button(page, f"Replace narration #{first}").click().run()
    assert not page.exception and texts(page, "success")[0].startswith("Queued story narration #")
    with new_session() as session:
        assert [(r.id == first, r.story_id) for r in session.query(StoryAudio).order_by(StoryAudio.id)] == [
            (True, 1),
            (False, None),  # waits beside the old one until it completes
        ]
        second = session.query(StoryAudio).filter(StoryAudio.id != first).one().id

    # Replace does not stay ticked: the next submit has to ask for it again.
    assert f"#{second} is already replacing it. Submit is refused until #{second} finishes" in texts(page, "info")[0]
    synthesize("story", second)
    page.run()
    assert not page.checkbox(key="replace-1").value
    assert "Submit narration" in labels(page)
    button(page, "Submit narration").click().run()
    assert f"already has narration #{second}" in texts(page, "error")[0]  # refused, not a silent replacement
    with new_session() as session:
        assert session.query(StoryAudio).count() == 2


def _read(page: AppTest) -> list[str]:
    return [m.replace("**", "") for m in texts(page, "markdown")]


def test_the_card_shows_only_what_this_form_submitted_and_clears_when_the_form_changes(page: AppTest) -> None:
    button(page, "Submit narration").click().run()
    assert "Just submitted from this form: story “The Lighthouse Keeper's Cat”" in _read(page)
    assert any("Story narration #1" in m for m in _read(page))

    page.radio[0].set_value("scene").run()  # another mode: the story's narration is not this form's
    assert not any("narration #" in m for m in _read(page))
    assert not page.get("page_link")
    button(page, "Submit narration").click().run()
    assert any(m.startswith("Just submitted from this form: scene #1: A tall white lighthouse") for m in _read(page))
    next(s for s in page.selectbox if s.label == "Scene image").set_value(2).run()  # another scene
    assert not any("Just submitted" in m for m in _read(page))

    page.radio[0].set_value("story").run()
    assert not any("Just submitted" in m for m in _read(page))  # cleared, not kept for later
    next(s for s in page.selectbox if s.label == "Story").set_value(2).run()
    button(page, "Submit narration").click().run()
    next(s for s in page.selectbox if s.label == "Story").set_value(1).run()  # another story
    assert not any("Just submitted" in m for m in _read(page))


def test_all_scenes_in_one_action_skips_the_ones_already_narrated(page: AppTest) -> None:
    page.radio[0].set_value("scene").run()
    button(page, "Submit narration").click().run()  # scene 1 on its own
    with new_session() as session:
        synthesize("scene", session.query(SceneAudio).one().id)

    button(page, "Narrate 3 scenes").click().run()
    assert not page.exception
    assert shown(page.success[-1].value) == (
        "Queued 2 scene narration(s) of “The Lighthouse Keeper's Cat”, skipped 1 (already narrated)."
    )
    assert page.get("progress"), "the batch shows its progress"
    assert "Just submitted from this form: every scene of “The Lighthouse Keeper's Cat”" in _read(page)
    listed = page.dataframe[0].value
    assert [scene[:4] for scene in listed["scene"]] == ["#2: ", "#3: "]  # each new narration, named by its scene
    assert list(listed["state"]) == ["queued", "queued"]
    with new_session() as session:
        queued = session.query(SceneAudio).filter_by(status="queued").order_by(SceneAudio.image_id).all()
        assert [r.image_id for r in queued] == [2, 3]
        batch = [r.id for r in queued]
    for row_id in batch:
        synthesize("scene", row_id)
    page.run()
    assert page.get("progress")[0].proto.text == "2 of 2 scenes completed"
    assert list(page.dataframe[0].value["state"]) == ["completed", "completed"]

    page.checkbox(key="bulk-redo").check().run()
    button(page, "Narrate 3 scenes").click().run()
    assert shown(page.success[-1].value) == "Queued 3 scene narration(s) of “The Lighthouse Keeper's Cat”."
    button(page, "Narrate 3 scenes").click().run()  # again, while those run: nothing is doubled
    assert shown(page.success[-1].value).endswith("skipped 3 (one is still queued or running).")


def test_the_voice_sample_plays_and_is_made_once(page: AppTest) -> None:
    button(page, "Hear this voice").click().run()
    assert not page.exception and page.get("audio")
    samples = list((get_settings().media_path / "samples").rglob("*.wav"))
    assert len(samples) == 1 and samples[0].stat().st_size > 10_000
    # mastered as narrations are, so two voices are compared at one loudness
    audio, rate = soundfile.read(samples[0])
    assert pyloudnorm.Meter(rate).integrated_loudness(audio) == pytest.approx(-18.0, abs=1.0)


def test_a_megabyte_pasted_in_is_cut_at_the_limit_by_the_text_area(page: AppTest) -> None:
    assert page.text_area[0].max_chars == MAX_PROMPT_CHARS
    page.text_area[0].set_value("word " * 210_000).run()
    assert {m.label: m.value for m in page.metric}["Characters"] == "100,000"


def test_a_story_longer_than_the_limit_shows_the_refusal_instead_of_an_estimate(page: AppTest) -> None:
    with get_engine().begin() as connection:  # the Django app sets no limit on a story's text
        story_id = connection.execute(
            text("INSERT INTO story_story (title, content) VALUES ('Epic', :content) RETURNING id"),
            {"content": "A long night. " * 100_000},
        ).scalar_one()
    page.run()
    next(s for s in page.selectbox if s.label == "Story").set_value(story_id).run()

    refusal = "The text has 1,400,000 characters; the most one narration takes is 100,000. Split it into parts."
    assert texts(page, "error") == [refusal]
    assert not page.metric  # no estimate of a text that cannot be submitted
    button(page, "Submit narration").click().run()
    assert refusal in texts(page, "error")
    with new_session() as session:
        assert session.query(StoryAudio).count() == 0


@pytest.mark.parametrize(("budget", "over"), [("10", False), ("0.9", True)])
def test_a_paid_estimate_shows_the_months_spend_against_the_budget(
    page: AppTest, monkeypatch: pytest.MonkeyPatch, budget: str, over: bool
) -> None:
    billed(60_000)  # $0.90 so far
    monkeypatch.setenv("MONTHLY_BUDGET_USD", budget)
    get_settings.cache_clear()
    page.run()
    assert not [c for c in page.caption if "budget" in c.value]  # the local voice is free: nothing to say

    next(s for s in page.selectbox if s.label == "Provider").set_value("openai").run()
    said = [m.value for m in (page.warning if over else page.caption) if "budget" in m.value]
    expected = "9%" if not over else "101%"  # the lighthouse story adds about a cent
    assert len(said) == 1 and f"about $0.90 of the ${float(budget):,.2f} budget; {expected}" in said[0]
    assert ("passes the budget" in said[0]) is over


def test_the_mastering_profile_is_chosen_per_narration_and_acx_takes_its_own_format(
    page: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    mastering = next(s for s in page.selectbox if s.label == "Mastering")
    assert mastering.value == "standard"  # the desk's default (MASTERING_PROFILE)
    assert "ACX audiobook" in mastering.options
    mastering.set_value("acx").run()
    prompt = page.text_area[0].value or ""
    page.text_area[0].set_value(prompt[: prompt.index(". ") + 1]).run()  # the local voice: one sentence, ~8 s
    save_as = next(s for s in page.selectbox if s.label == "Save as")
    assert save_as.value == "mp3" and save_as.disabled  # ACX accepts 44.1 kHz MP3 at 192 kbps only
    button(page, "Submit narration").click().run()
    assert not page.exception

    with new_session() as session:
        row = session.query(StoryAudio).one()
        assert (row.mastering, row.output_format) == ("acx", "mp3")
    synthesize("story", row.id)
    with new_session() as session:
        metadata = session.get(StoryAudio, row.id).audio_metadata  # type: ignore[union-attr]
    assert metadata is not None
    assert (metadata["mastering"]["profile"], metadata["format"], metadata["sample_rate"]) == ("acx", "mp3", 44_100)
    verdict = metadata["qc"]["verdict"]
    assert verdict["profile"] == "ACX audiobook" and verdict["passed"], verdict["failures"]


def test_the_default_profile_comes_from_the_settings(db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTERING_PROFILE", "podcast")
    get_settings.cache_clear()
    demo_data()
    app = AppTest.from_file(APP, default_timeout=30)
    app.session_state[KEY] = staff_user()
    app.run()
    assert next(s for s in app.selectbox if s.label == "Mastering").value == "podcast"
