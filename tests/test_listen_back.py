"""The listen-back check: each passage is transcribed through the real OpenAI SDK (by the fake, over
HTTP) and compared with its text; only passages heard wrong are flagged, and a failing transcription
never fails the narration."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from redis import Redis
from streamlit.testing.v1 import AppTest

from dashboard.listen_back import heard_back
from dashboard.session import KEY
from db.engine import new_session
from db.models import SceneAudio, StoryAudio
from db.settings import get_settings
from tests.apptest import APP, button, open_narration, texts
from tests.factories import LOCAL, demo_data, staff_user
from tests.fake_providers import TRANSCRIPTIONS_PATH, FakeProviders
from tests.test_long_text import long_story
from tests.workers_env import providers_on
from workers.engine import catalogue, listen_back, qc
from workers.engine.chunking import split
from workers.engine.jobs import synthesize
from workers.engine.word_errors import compare, words
from workers.service import actions
from workers.service.submit import Refused, Request, submit

OPENAI_VOICE: dict[str, Any] = {"provider": "openai", "model": "tts-1", "voice": "nova"}
ELEVENLABS_VOICE: dict[str, Any] = {
    "provider": "elevenlabs",
    "model": "eleven_multilingual_v2",
    "voice": "21m00Tcm4TlvDq8ikWAM",
}


@pytest.fixture
def narrating(db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviders]:
    demo_data()
    with FakeProviders(seconds_per_char=0.01) as fake, providers_on(fake, monkeypatch):
        yield fake


def _three_passages() -> tuple[str, list[str]]:
    text = long_story(11_000)
    planned = split(text, catalogue.model("openai", "tts-1").max_chars)  # type: ignore[union-attr]
    assert len(planned) == 3
    return text, planned


def _qc(kind: str, row_id: int) -> dict[str, Any]:
    with new_session() as session:
        row = session.get(StoryAudio, row_id) if kind == "story" else session.get(SceneAudio, row_id)
        assert row is not None and row.status == "completed", row and row.error_message
        return dict((row.audio_metadata or {})["qc"])


def _passages(kind: str, row_id: int) -> list[dict[str, Any]]:
    passages = _qc(kind, row_id)["passages"]
    assert isinstance(passages, list)
    return passages


def _transcriptions(fake: FakeProviders) -> int:
    return sum(call.path == TRANSCRIPTIONS_PATH for call in fake.calls)


# --- comparing words ------------------------------------------------------------------------------


def test_numbers_case_and_punctuation_written_another_way_are_the_same_words() -> None:
    expected = "At 12 o'clock, the 3rd keeper climbed 1,000 steps: 50% of them in the dark."
    heard = "at twelve oclock the third keeper climbed one thousand steps fifty percent of them in the dark"
    assert compare(expected, heard).wer == 0.0
    assert words("Don’t—stop!") == ["dont", "stop"]


def test_differences_name_the_words_substituted_missing_and_added() -> None:
    result = compare("The old lantern was lit at dusk.", "the lanterns was lit at dusk today")
    assert [d.said() for d in result.differences] == ["'old lantern' heard as 'lanterns'", "'today' added"]
    assert result.wer == pytest.approx(3 / 7)
    skipped = compare(" ".join(f"w{i}" for i in range(30)), "w0 w29")
    assert [d.said() for d in skipped.differences] == ["'w1 w2 w3 … w27 w28 (28 words)' missing"]


def test_a_passage_longer_than_one_request_is_heard_in_windows_cut_between_words() -> None:
    """An ElevenLabs passage can run 40 minutes; OpenAI takes 25 MB a request, so it goes in pieces,
    each cut where the speech pauses, and nothing is lost or heard twice."""
    rate = 1_000  # the cutting does not depend on the rate; a low one keeps the test fast
    second = np.full(rate, 8_000, dtype=np.int16)
    pause = np.zeros(rate // 5, dtype=np.int16)
    speech = np.concatenate([np.concatenate((second * (1 + i % 3), pause)) for i in range(1_500)])  # 30 min
    pieces = listen_back.windows(speech, rate)

    assert len(pieces) == 4 and np.array_equal(np.concatenate(pieces), speech)  # 30 min in 4 of under 10
    assert all(piece.size <= listen_back.WINDOW_SECONDS * rate for piece in pieces)
    for piece, following in itertools.pairwise(pieces):  # each cut inside a pause, not in a word
        assert piece[-rate // 100 :].max() == 0 and following[: rate // 100].max() == 0


def test_the_pages_sentence_survives_checks_written_by_someone_else() -> None:
    """audio_metadata is shared with the Django app: a hand-written `listen_back` must not break the page."""
    odd = {"listen_back": {"model": "?", "max_wer": "high", "checked": 1}, "passages": [{"listen_back": "junk"}, 3]}
    assert (
        heard_back(odd)
        == "Listen-back (?): 1 of 2 passages heard, None with more than the allowed share of words differing."
    )
    assert heard_back({"passages": []}) is None


# --- through the worker, against the fake's transcription endpoint ---------------------------------


def test_only_the_passage_the_fake_mistranscribed_is_flagged_with_the_words_that_differ(
    narrating: FakeProviders,
) -> None:
    fake = narrating
    text, planned = _three_passages()
    said = words(planned[1])
    # The model "skipped" 200 words of passage 2 and misread its fourth word.
    fake.mistranscribe[planned[1]] = " ".join([*said[:3], "zebra", *said[4:100], *said[300:]])
    done = submit(Request(kind="story", target_id=1, prompt=text, listen_back=True, **OPENAI_VOICE))
    assert "completed" in synthesize("story", done.row_id)

    passages = _passages("story", done.row_id)
    assert [bool(p["flags"]) for p in passages] == [False, True, False]
    assert [p["listen_back"]["wer"] for p in passages] == [0.0, pytest.approx(201 / len(said), abs=0.001), 0.0]
    heard = passages[1]["listen_back"]
    assert isinstance(heard, dict)
    assert heard["differences"] == [
        {"expected": said[3], "heard": "zebra"},
        {"expected": " ".join(said[100:300]), "heard": ""},
    ]
    (flag,) = passages[1]["flags"]
    assert flag.startswith(
        f"listen-back: {round(201 / len(said) * 100)} % of words differ: '{said[3]}' heard as 'zebra', "
    )
    assert "(200 words)' missing" in flag
    assert _qc("story", done.row_id)["listen_back"] == {
        "model": "gpt-4o-mini-transcribe", "max_wer": 0.15, "checked": 3, "flagged": 1, "not_checked": 0,
    }  # fmt: skip
    assert _transcriptions(fake) == 3
    # The narration's Details list it among the flagged passages, and say what was heard back.
    editor = staff_user()
    page = open_narration(editor, "story", done.row_id)
    flagged = next(frame.value for frame in page.dataframe if list(frame.value.columns) == ["passage", "flags"])
    assert flagged.to_dict("records") == [{"passage": "2", "flags": flag}]
    assert (
        "Listen-back (gpt-4o-mini-transcribe): 3 of 3 passages heard, 1 with more than 15 % of words differing."
        in texts(page, "caption")
    )

    # Narrated again (the model now reads it right), every passage is heard again and the flag goes.
    fake.mistranscribe.clear()
    actions.redo_chunk("story", done.row_id, 1, None, editor)
    assert "redo completed" in synthesize("story", done.row_id)
    assert [p["flags"] for p in _passages("story", done.row_id)] == [[], [], []]
    assert _transcriptions(fake) == 6


def test_faithful_transcripts_that_write_numbers_and_punctuation_their_own_way_flag_nothing(
    narrating: FakeProviders,
) -> None:
    fake = narrating
    text = "At 12 o'clock, the 3 keepers climbed 120 steps; 50% of the lamp was lit, and 1,000 ships saw it."
    fake.mistranscribe[text] = (
        "at twelve oclock the three keepers climbed one hundred and twenty steps fifty percent of the lamp "
        "was lit and one thousand ships saw it"
    )
    done = submit(Request(kind="scene", target_id=1, prompt=text, listen_back=True, **OPENAI_VOICE))
    assert "completed" in synthesize("scene", done.row_id)

    (passage,) = _passages("scene", done.row_id)
    assert passage["flags"] == []
    assert passage["listen_back"] == {
        "wer": 0.0, "expected_words": len(words(text)), "differences": [], "heard": fake.mistranscribe[text],
    }  # fmt: skip


def test_when_transcription_keeps_failing_the_narration_completes_and_passages_say_not_checked(
    narrating: FakeProviders,
) -> None:
    fake = narrating
    text, _ = _three_passages()
    fake.random_faults(1.0, ["500"], seed=1, provider="openai")  # speech comes from ElevenLabs, unharmed
    done = submit(Request(kind="story", target_id=1, prompt=text, listen_back=True, **ELEVENLABS_VOICE))
    assert "completed" in synthesize("story", done.row_id)

    passages = _passages("story", done.row_id)
    assert len(passages) == 2  # ElevenLabs takes 10,000 characters a request
    assert [p["listen_back"] for p in passages] == [{"not_checked": "not checked: OpenAI had a server error (500)"}] * 2
    assert [p["flags"] for p in passages] == [[], []]  # nothing is known to be wrong with them
    assert _transcriptions(fake) == 2 * (1 + listen_back.RETRIES)  # each retried, then given up
    # The narration's Details say so.
    page = open_narration(staff_user(), "story", done.row_id)
    assert (
        "Listen-back (gpt-4o-mini-transcribe): 0 of 2 passages heard, 0 with more than 15 % of words differing; "
        "passages 1, 2 not checked: OpenAI had a server error (500)."
    ) in texts(page, "caption")
    with new_session() as session:
        row = session.get(StoryAudio, done.row_id)
        assert row is not None and fake.api_key not in json.dumps(row.audio_metadata)


def test_a_rejected_key_is_said_without_the_key(narrating: FakeProviders) -> None:
    fake = narrating
    fake.random_faults(1.0, ["401"], seed=1, provider="openai")
    done = submit(Request(kind="story", target_id=1, prompt="A short tale.", listen_back=True, **ELEVENLABS_VOICE))
    assert "completed" in synthesize("story", done.row_id)
    (passage,) = _passages("story", done.row_id)
    assert passage["listen_back"] == {"not_checked": "not checked: OpenAI rejected the API key (OPENAI_API_KEY)"}


def test_with_listen_back_off_nothing_is_sent_to_be_transcribed(narrating: FakeProviders) -> None:
    fake = narrating
    text, _ = _three_passages()
    done = submit(Request(kind="story", target_id=1, prompt=text, **OPENAI_VOICE))
    assert "completed" in synthesize("story", done.row_id)

    assert _transcriptions(fake) == 0
    assert [p["flags"] for p in _passages("story", done.row_id)] == [[], [], []]
    assert all("listen_back" not in p for p in _passages("story", done.row_id))
    assert "listen_back" not in _qc("story", done.row_id)


def test_without_an_openai_key_submit_refuses_and_a_worker_records_not_checked(
    db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_data()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    get_settings.cache_clear()
    with pytest.raises(Refused, match="listen-back check needs OpenAI"):
        submit(Request(kind="story", target_id=1, prompt="A short tale.", listen_back=True, **LOCAL))

    tone = np.full(2_400, 1_000, dtype=np.int16)
    heard = listen_back.hear(tone, 24_000, [qc.Passage(0, tone.size, "A short tale.")], get_settings())
    assert [h.as_json() for h in heard] == [
        {"not_checked": "not checked: the listen-back check needs OpenAI, which is not set up on this desk "
         "(OPENAI_API_KEY)"}
    ]  # fmt: skip


def test_the_budget_counts_the_listen_back(narrating: FakeProviders, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local narration is free; heard back, it costs the transcription, and over budget it is refused."""
    text = long_story(9_000)
    monkeypatch.setenv("MONTHLY_BUDGET_USD", "0.01")
    monkeypatch.setenv("REFUSE_OVER_BUDGET", "true")
    get_settings.cache_clear()
    assert catalogue.listen_back_cost_usd("gpt-4o-mini-transcribe", len(text)) > 0.01
    submit(Request(kind="scene", target_id=1, prompt=text, **LOCAL))  # free: always goes
    with pytest.raises(Refused, match="past the"):
        submit(Request(kind="scene", target_id=2, prompt=text, listen_back=True, **LOCAL))


# --- compose ---------------------------------------------------------------------------------------


def _compose() -> AppTest:
    """The compose page, signed in as staff, on the lighthouse story (the local voice is picked)."""
    demo_data()
    app = AppTest.from_file(APP, default_timeout=30)
    app.session_state[KEY] = staff_user()
    app.run()
    assert not app.exception
    next(s for s in app.selectbox if s.label == "Story").set_value(1).run()
    return app


def _box(app: AppTest) -> object:
    (box,) = [c for c in app.checkbox if c.label.startswith("Listen back")]
    return box


def test_compose_listen_back_adds_its_cost_to_the_estimate_and_saves_it_on_the_row(
    db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    get_settings.cache_clear()
    app = _compose()
    prompt = app.text_area[0].value or ""
    assert {m.label: m.value for m in app.metric}["Estimated cost"] == "$0.0000"  # the local voice is free

    box = _box(app)
    assert not box.disabled and box.value is False  # type: ignore[attr-defined]
    box.check().run()  # type: ignore[attr-defined]
    heard = catalogue.listen_back_cost_usd(get_settings().listen_back_model, len(prompt))
    assert heard > 0
    assert {m.label: m.value for m in app.metric}["Estimated cost"] == f"${heard:.4f}"

    button(app, "Submit narration").click().run()
    assert not app.exception
    with new_session() as session:
        assert [(r.story_id, r.listen_back) for r in session.query(StoryAudio)] == [(1, True)]


def test_compose_without_an_openai_key_shows_the_box_off_and_says_why(db: str, redis: Redis) -> None:
    compose = _compose()
    box = _box(compose)
    assert box.disabled and box.value is False  # type: ignore[attr-defined]
    assert "needs OpenAI, which is not set up on this desk" in box.label  # type: ignore[attr-defined]
    button(compose, "Submit narration").click().run()
    with new_session() as session:
        assert [r.listen_back for r in session.query(StoryAudio)] == [None]
