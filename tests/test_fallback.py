"""A project's fallback voice: when the voice asked for fails for account reasons (quota, a provider
down after its retries), the row completes with the fallback, marked as such; a failure that is the
text's does not fall back, nor does a fallback the budget refuses. Real PostgreSQL and Redis, the
fake OpenAI at the HTTP level, the real local voice as the fallback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from dashboard.plain import md
from dashboard.session import KEY
from db import events, monitoring
from db.engine import new_session
from db.models import Event, StoryAudio
from db.narrations import now
from db.project_settings import ProjectRules, Voice, rules, save
from db.settings import get_settings
from db.window import Window
from tests.apptest import APP, button, labels, open_narration, selectbox
from tests.factories import LOCAL, billed, staff_user
from tests.fake_providers import FakeProviders, Fault
from tests.test_reliability import OPENAI
from workers.engine.jobs import synthesize
from workers.service.projects import save_rules
from workers.service.roles import Role
from workers.service.submit import Request, submit

DEMO_PROJECT = 1
TEXT = "The keeper climbed the hundred and twelve steps."


def _with_fallback(voice: Voice) -> None:
    with new_session() as session:
        save(session, ProjectRules(DEMO_PROJECT, fallback=voice), user_id=None)
        session.commit()


def _asked_in_openai(fake: FakeProviders, fault: Fault, times: int = 1) -> int:
    """A story narration asked for in OpenAI's voice, in a project whose fallback is the local
    voice, with OpenAI set to answer `fault` the next `times` times; its id."""
    _with_fallback(Voice(**LOCAL))
    row_id = submit(Request(kind="story", target_id=1, prompt=TEXT, **OPENAI)).row_id
    fake.fail_next(fault, times)
    return row_id


def _row(row_id: int) -> StoryAudio:
    with new_session() as session:
        row = session.get(StoryAudio, row_id)
        assert row is not None
        session.expunge(row)
        return row


def _events(row_id: int) -> list[tuple[str, str | None]]:
    with new_session() as session:
        found = select(Event.what, Event.message).where(Event.narration_kind == "story", Event.narration_id == row_id)
        return [(what, message) for what, message in session.execute(found.order_by(Event.at, Event.id))]


def test_an_exhausted_quota_completes_on_the_fallback_voice_marked_as_such(fake: FakeProviders) -> None:
    row_id = _asked_in_openai(fake, "quota")
    assert "handed to the fallback voice local" in synthesize("story", row_id)
    handed = _row(row_id)
    assert handed.status == "queued" and handed.attempts == 0  # a fresh set of attempts, in the new voice
    assert (handed.provider, handed.model_backend, handed.voice_style) == ("local", LOCAL["model"], "joe")
    assert handed.fell_back_from == "openai · tts-1 · nova"

    assert "completed" in synthesize("story", row_id)
    done = _row(row_id)
    assert done.status == "completed" and done.duration_seconds and done.duration_seconds > 1.5
    assert done.audio_metadata and done.audio_metadata["provider"] == "local"  # what the audio really is
    assert len(fake.calls_for("hundred and twelve", "openai")) == 1  # the refused request, and no other
    what = [w for w, _ in _events(row_id)]
    assert what == ["submitted", "claimed", "fell_back", "claimed", "completed"]
    said = dict(_events(row_id))[events.What.FELL_BACK]
    assert said is not None and said.startswith("from openai · tts-1 · nova: OpenAI quota exhausted")


def test_a_provider_down_after_every_retry_falls_back_on_the_last_attempt(
    fake: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHUNK_TRIES", "1")
    get_settings.cache_clear()
    row_id = _asked_in_openai(fake, "500", 3)
    assert "will retry" in synthesize("story", row_id)  # attempts 1 and 2: it may pass, so it waits
    assert "will retry" in synthesize("story", row_id)
    assert "fallback" in synthesize("story", row_id)  # attempt 3 of 3: the provider is down
    assert "completed" in synthesize("story", row_id)
    assert _row(row_id).provider == "local"


def test_a_failure_of_the_text_does_not_fall_back(fake: FakeProviders) -> None:
    row_id = _asked_in_openai(fake, "refused")
    assert "failed" in synthesize("story", row_id)
    row = _row(row_id)
    assert row.status == "failed" and row.provider == "openai" and row.fell_back_from is None
    assert row.error_message and "safety system" in row.error_message
    assert "fell_back" not in [w for w, _ in _events(row_id)]


def test_a_fallback_the_budget_refuses_is_not_used_and_the_failure_says_so(
    fake: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_fallback(Voice("elevenlabs", "eleven_flash_v2_5", "21m00Tcm4TlvDq8ikWAM"))
    row_id = submit(Request(kind="story", target_id=1, prompt=TEXT, **OPENAI)).row_id
    billed(10_000)  # $0.15 spent this month
    monkeypatch.setenv("MONTHLY_BUDGET_USD", "0.01")
    monkeypatch.setenv("REFUSE_OVER_BUDGET", "true")
    get_settings.cache_clear()
    fake.fail_next("quota")
    assert "failed" in synthesize("story", row_id)
    row = _row(row_id)
    assert row.status == "failed" and row.provider == "openai"
    assert row.error_message and "The project's fallback voice was not used: This would take the month" in (
        row.error_message
    )
    assert fake.calls_for("hundred and twelve", "elevenlabs") == []  # nothing paid to the fallback


def test_the_card_and_the_providers_chart_mark_a_narration_of_the_fallback(fake: FakeProviders) -> None:
    editor = staff_user("editor")
    row_id = _asked_in_openai(fake, "401")
    synthesize("story", row_id)
    assert "completed" in synthesize("story", row_id)

    page = open_narration(editor, "story", row_id)
    said = [c.value for c in page.caption if "fallback voice" in c.value]
    assert said and md("openai · tts-1 · nova") in said[0]
    with new_session() as session:
        window = Window.last(timedelta(hours=1), now=now(), tz="UTC")
        counted = monitoring.provider_over_time(session, window, monitoring.HistoryFilters())
    assert [(c.provider, c.jobs) for c in counted] == [("local (fallback)", 1)]


def test_staff_name_a_projects_fallback_voice_and_viewers_only_read_it(fake: FakeProviders) -> None:
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state[KEY] = staff_user("editor")
    app.run()
    app.switch_page("pages/projects.py").run()
    next(t for t in app.toggle if t.label == "Use a fallback voice").set_value(True).run()
    selectbox(app, "Provider").set_value("local").run()
    button(app, "Save").click().run()
    assert not app.exception and app.info[0].value.startswith(md("Saved the settings of “Demo: Tales"))
    with new_session() as session:
        assert rules(session, DEMO_PROJECT).fallback == Voice(**LOCAL)

    viewer = AppTest.from_file(APP, default_timeout=60)
    viewer.session_state[KEY] = staff_user("reader", role=Role.VIEWER)
    viewer.run()
    viewer.switch_page("pages/projects.py").run()
    assert all(t.disabled for t in viewer.toggle) and "Save" not in labels(viewer)
    assert save_rules(DEMO_PROJECT, None, False, viewer.session_state[KEY].user_id).startswith("Only staff")
