"""Labels read the same on every page: the words and clock faces a person expects, not raw values."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from dashboard import labels


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "—"), (0.4, "0:00"), (7.2, "0:07"), (2988.3, "49:48"), (3725, "1:02:05"), (36000, "10:00:00")],
)
def test_lengths_read_as_a_clock(seconds: float | None, shown: str) -> None:
    assert labels.length(seconds) == shown


def test_priorities_read_as_words() -> None:
    assert [labels.priority(p) for p in (1, 0, -1)] == ["high", "normal", "low"]
    assert labels.priority(5) == "high (5)"  # a number only the Django side writes stays visible


def test_percentages_are_short() -> None:
    assert [labels.percent(x) for x in (0.0, 0.042, 0.1, 1.0, 0.12345)] == ["0 %", "4.2 %", "10 %", "100 %", "12.3 %"]


def test_times_read_in_the_display_zone_with_its_name() -> None:
    moment = datetime(2026, 12, 2, 13, 5, 59, tzinfo=UTC)
    assert labels.when(moment, ZoneInfo("Europe/Paris")) == "2026-12-02 14:05 CET"
    assert labels.when(moment, ZoneInfo("UTC")) == "2026-12-02 13:05 UTC"
    assert labels.when(None, ZoneInfo("UTC")) == "—"


def test_names_are_the_ones_compose_shows() -> None:
    assert labels.model("elevenlabs", "eleven_flash_v2") == "Flash v2"
    assert labels.voice("elevenlabs", "21m00Tcm4TlvDq8ikWAM") == "Rachel"
    assert labels.voice("openai", "nova") == "nova"
    assert labels.provider("local") == "Local voice (Piper, offline)"
    assert labels.model("openai", "some-new-model") == "some-new-model"  # unknown ids stay readable


def test_a_cancel_is_its_own_state() -> None:
    stamp = datetime(2026, 12, 2, tzinfo=UTC)
    assert labels.state("failed", stamp) == "cancelled"
    assert labels.state("failed", None) == "failed"
    assert labels.state("completed", None) == "completed"


def test_downloads_are_named_after_what_they_narrate() -> None:
    assert labels.download_name("The Fox & the Crow", "story", 12, "mp3") == "the-fox-the-crow-story-12.mp3"
    assert labels.download_name("Éclair: «Zoë»", "scene", 3, "wav") == "eclair-zoe-scene-3.wav"
    assert labels.download_name("../../etc/passwd", "story", 1, "wav") == "etc-passwd-story-1.wav"
    assert labels.download_name("", "scene", 4, "ogg") == "scene-4.ogg"


def test_how_a_narration_was_mastered_reads_from_its_metadata_and_never_trusts_it() -> None:
    done = {"format": "wav", "mastering": {"profile": "acx", "limiter_max_reduction_db": 2.34}}
    assert labels.mastered(done, "acx") == "ACX audiobook · limiter 2.3 dB"
    assert labels.mastered({"format": "wav", "mastering": {"profile": "raw"}}, "raw") == "Raw"
    assert labels.mastered({"format": "mp3"}, None) == "not mastered (made before mastering existed)"
    assert labels.mastered({}, "podcast") == "Podcast (when it is narrated)"
    assert labels.mastered({}, None) == "Standard (when it is narrated)"  # the desk's default
    # whatever another program wrote into the JSON column
    junk = {"format": "wav", "mastering": {"profile": "<b>x</b>", "limiter_max_reduction_db": "lots"}}
    assert labels.mastered(junk, None) == "not mastered (made before mastering existed)"
    assert labels.mastered({"mastering": {"profile": "standard", "limiter_max_reduction_db": True}}, None) == "Standard"
