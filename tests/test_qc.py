"""Quality checks: signals whose loudness, peaks and silences are known by construction, then real
narrations (the local voice, and the fake provider returning one passage much quieter)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pyloudnorm
import pytest
import soxr
from redis import Redis

from db.engine import new_session
from db.models import StoryAudio
from tests.apptest import open_narration, texts
from tests.audio_checks import raw_narration
from tests.factories import LOCAL, demo_data, staff_user
from tests.fake_providers import FakeProviders
from tests.test_long_text import long_story
from tests.workers_env import LOCAL_VOICE, providers_on
from workers.engine import catalogue, qc, true_peak
from workers.engine.chunking import split
from workers.engine.jobs import synthesize
from workers.engine.providers.base import ChunkRequest
from workers.engine.providers.local import LocalProvider
from workers.service import actions
from workers.service.submit import Request, submit

RATE = 48_000


def sine(seconds: float, dbfs: float, hz: float = 1000.0, rate: int = RATE) -> np.ndarray:
    """A sine whose peak is `dbfs` (its RMS is 3.01 dB lower)."""
    return 10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * np.arange(round(seconds * rate)) / rate)


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(round(seconds * rate))


def whole(samples: np.ndarray, characters: int = 100) -> qc.Passage:
    return qc.Passage(0, samples.size, "x" * characters)


def test_a_sine_at_minus_20_dbfs_reads_its_known_rms_peak_and_loudness() -> None:
    signal = sine(5.0, -20.0)

    figures = qc.measure(signal, RATE, [whole(signal)])["narration"]

    assert figures["rms_dbfs"] == pytest.approx(-23.01, abs=0.02)
    assert figures["true_peak_dbtp"] == pytest.approx(-20.0, abs=0.05)
    # BS.1770 calibrates K-weighting so that a 0 dBFS 1 kHz sine reads −3.01 LUFS.
    assert figures["loudness_lufs"] == pytest.approx(-23.01, abs=0.1)
    assert figures["loudness_range_lu"] == pytest.approx(0.0, abs=0.1)
    assert figures["head_silence_seconds"] == 0.0 and figures["tail_silence_seconds"] == 0.0


def test_loudness_matches_pyloudnorm_on_speech_like_audio() -> None:
    """The vectorised gating gives pyloudnorm's own integrated loudness, gates included: bursts of
    noise at varied levels with quiet gaps, so both gates drop blocks."""
    rng = np.random.default_rng(3)
    rate = 22_050
    bursts = [rng.standard_normal(rate) * 10 ** (rng.uniform(-40, -15) / 20) for _ in range(30)]
    signal = np.concatenate([np.concatenate((b, silence(0.3, rate))) for b in bursts]).astype(np.float32)

    ours = qc.measure(signal, rate, [whole(signal)])["narration"]["loudness_lufs"]

    assert ours == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(signal.astype(np.float64)), abs=0.05)


def test_a_full_scale_inter_sample_peak_reads_3_db_over_its_samples_and_fails_standard() -> None:
    """A sine at fs/4 with a 45° phase: every sample is ±0.707 of the wave's crest, so samples
    normalised to full scale hide a true peak of +3.01 dBTP between them."""
    samples = np.sin(2 * np.pi * np.arange(RATE * 2) / 4 + np.pi / 4)
    samples /= np.max(np.abs(samples))
    assert np.max(np.abs(samples)) == 1.0

    result = qc.measure(samples, RATE, [whole(samples)])

    assert result["narration"]["true_peak_dbtp"] == pytest.approx(3.01, abs=0.2)
    assert any(flag.startswith("clips") for flag in result["passages"][0]["flags"])
    verdict = result["verdict"]
    assert verdict["profile"] == "Standard" and not verdict["passed"]
    [failure] = [f for f in verdict["failures"] if f["check"] == "true peak"]  # (and far too loud)
    assert failure["over_by"] == pytest.approx(5.01, abs=0.2)


def test_head_tail_and_inner_silences_read_their_lengths() -> None:
    signal = np.concatenate((silence(0.7), sine(2.0, -20), silence(0.45), sine(1.0, -20), silence(1.3)))

    figures = qc.measure(signal, RATE, [whole(signal, characters=30)])["narration"]

    assert figures["head_silence_seconds"] == pytest.approx(0.7, abs=0.011)
    assert figures["tail_silence_seconds"] == pytest.approx(1.3, abs=0.011)
    assert figures["longest_inner_silence_seconds"] == pytest.approx(0.45, abs=0.011)
    assert figures["speaking_rate_cps"] == pytest.approx(30 / 3.45, rel=0.01)


def test_the_noise_floor_is_the_level_between_words() -> None:
    rng = np.random.default_rng(5)
    noise = 10 ** (-70 / 20)  # RMS −70 dBFS
    words = [np.concatenate((sine(0.4, -15), rng.standard_normal(round(0.2 * RATE)) * noise)) for _ in range(10)]
    signal = np.concatenate(words)

    figures = qc.measure(signal, RATE, [whole(signal)])["narration"]

    assert figures["noise_floor_dbfs"] == pytest.approx(-70, abs=1.5)
    assert qc.measure(silence(2.0), RATE, [whole(silence(2.0))])["narration"]["noise_floor_dbfs"] == qc.FLOOR_DB


def test_a_passage_10_db_quieter_than_its_neighbours_is_flagged_and_only_it() -> None:
    levels = [-20, -20, -30, -20]
    pcm = [(sine(3.0, level, hz=300) * 32767).astype("<i2").tobytes() for level in levels]
    texts = ["y" * 45] * len(levels)
    joined, passages = raw_narration(pcm, texts, RATE)
    result = qc.measure(joined, RATE, passages)

    passages = result["passages"]
    loudness = [p["loudness_lufs"] for p in passages]
    assert [level - loudness[0] for level in loudness] == pytest.approx([0, 0, -10, 0], abs=0.05)
    assert [bool(p["flags"]) for p in passages] == [False, False, True, False]
    assert "10.0 LU quieter than its neighbours" in passages[2]["flags"][0]
    assert [p["seconds"] for p in passages] == [3.0] * 4
    assert qc.flagged(result) == [{"passage": "3", "flags": passages[2]["flags"][0]}]
    assert "true peak" not in [f["check"] for f in result["verdict"]["failures"]]


def test_a_passage_speaking_far_faster_than_the_median_is_flagged() -> None:
    """Four passages of 3 s each; one reads twice the characters in the same time (as if the model
    skipped half its text), one reads 10 % more (ordinary variation, not flagged)."""
    pcm = [(sine(3.0, -20, hz=300) * 32767).astype("<i2").tobytes() for _ in range(4)]
    texts = ["z" * 45, "z" * 90, "z" * 45, "z" * 50]
    joined, passages = raw_narration(pcm, texts, RATE)
    result = qc.measure(joined, RATE, passages)

    assert [p["speaking_rate_cps"] for p in result["passages"]] == pytest.approx([15, 30, 15, 16.67], abs=0.05)
    assert [bool(p["flags"]) for p in result["passages"]] == [False, True, False, False]
    assert "faster than the median" in result["passages"][1]["flags"][0]


def _fully_oversampled_true_peaks(signal: np.ndarray, rate: int, pieces: list[qc.Passage]) -> list[float]:
    """The reference: the whole signal oversampled 4× at once, each piece's true peak read over the
    10 ms windows it touches, as QC read it before it oversampled only the windows near a maximum."""
    loud = np.abs(soxr.resample(qc.as_float(signal), rate, rate * 4, quality=true_peak.OVERSAMPLER_QUALITY))
    size = round(qc.WINDOW_SECONDS * rate)
    return [
        20 * math.log10(float(loud[p.start // size * size * 4 : -(-p.end // size) * size * 4].max())) for p in pieces
    ]


def _true_peaks(signal: np.ndarray, rate: int, pieces: list[qc.Passage]) -> list[float]:
    result = qc.measure(signal, rate, pieces[1:])
    return [p["true_peak_dbtp"] for p in [result["narration"], *result["passages"]]]


@pytest.fixture(scope="session")
def local_speech() -> tuple[np.ndarray, int, list[qc.Passage]]:
    """Three passages of the local voice, joined as a narration is (its peaks reach full scale).
    Kept for the session: a worker does not always run the two tests reading it one after the other,
    and a module fixture was synthesized again for the second (14 s twice in one run)."""
    provider = LocalProvider()
    texts = [long_story(260, seed=seed) for seed in (1, 2, 3)]
    audio = [provider.synthesize(ChunkRequest(text=t, model=LOCAL["model"], voice=LOCAL["voice"])) for t in texts]
    rate = audio[0].sample_rate
    pcm = [a.pcm for a in audio]
    samples, passages = raw_narration(pcm, texts, rate)
    return samples, rate, passages


@LOCAL_VOICE
def test_the_true_peak_of_local_voice_speech_is_the_fully_oversampled_one(
    local_speech: tuple[np.ndarray, int, list[qc.Passage]],
) -> None:
    signal, rate, passages = local_speech
    pieces = [qc.Passage(0, signal.size, ""), *passages]

    assert _true_peaks(signal, rate, pieces) == pytest.approx(
        _fully_oversampled_true_peaks(signal, rate, pieces), abs=0.05
    )
    # and only a small part of it was oversampled (10-15 %): most windows are far below their passage's top
    size = round(qc.WINDOW_SECONDS * rate)
    sample_peaks = true_peak.window_maxima(np.abs(qc.as_float(signal)), size)
    touched = [(p.start // size, -(-p.end // size)) for p in pieces]
    assert true_peak.candidates(sample_peaks, true_peak.tops(sample_peaks, touched)).mean() < 0.25


@LOCAL_VOICE
def test_a_limiter_reads_every_window_that_could_reach_its_ceiling_as_fully_oversampled(
    local_speech: tuple[np.ndarray, int, list[qc.Passage]],
) -> None:
    """What mastering's limiter relies on: `peaks(..., reach=ceiling)` gives the oversampled true
    peak of every window at or over the ceiling, and leaves every other window under it."""
    signal, rate, _ = local_speech
    samples = qc.as_float(signal)
    size = round(qc.WINDOW_SECONDS * rate)
    loud = np.abs(soxr.resample(samples, rate, rate * 4, quality=true_peak.OVERSAMPLER_QUALITY))
    full = true_peak.window_maxima(loud, size * 4)
    ceiling = 10 ** (-8 / 20)

    read = qc.peaks(samples, rate, reach=ceiling)

    over = full >= ceiling
    assert 0 < over.sum() < over.size
    assert read[over] == pytest.approx(full[over], abs=1e-5)
    assert (read[~over] < ceiling).all()


@pytest.mark.parametrize("rate", [22_050, 24_000, 44_100])
def test_the_true_peak_of_white_noise_is_the_fully_oversampled_one(rate: int) -> None:
    """Full-band noise is the hard case: its inter-sample peaks can rise more than 3 dB over every
    sample near them. At 22.05 kHz this noise holds two half-second passages whose true peak a 3.1 dB
    margin misread by 0.14 dB (the same at 44.1 kHz)."""
    noise = np.random.default_rng(3).standard_normal(120 * rate) * 0.2
    half = rate // 2
    passages = [qc.Passage(start, start + half, "") for start in range(0, noise.size - half, rate // 4)]
    pieces = [qc.Passage(0, noise.size, ""), *passages]

    assert _true_peaks(noise, rate, pieces) == pytest.approx(
        _fully_oversampled_true_peaks(noise, rate, pieces), abs=0.05
    )


def test_measuring_in_blocks_reads_as_measuring_at_once() -> None:
    """Passages straddling the 30 s blocks read the same loudness, RMS and silences as the same
    passage measured on its own."""
    rng = np.random.default_rng(9)
    rate = 16_000
    signal = np.concatenate(
        [
            np.concatenate((silence(0.3, rate), rng.standard_normal(rate * 7) * 10 ** (-rng.uniform(10, 30) / 20)))
            for _ in range(12)
        ]
    )
    passages = [qc.Passage(s, s + 11 * rate, "w" * 150) for s in range(0, signal.size - 11 * rate, 9 * rate)]

    together = qc.measure(signal, rate, passages)["passages"]

    keys = (
        "seconds",
        "loudness_lufs",
        "rms_dbfs",
        "noise_floor_dbfs",
        "head_silence_seconds",
        "longest_inner_silence_seconds",
    )
    for passage, measured in zip(passages, together, strict=True):
        alone = qc.measure(signal[passage.start : passage.end], rate, [whole(signal[passage.start : passage.end], 150)])
        assert {k: measured[k] for k in keys} == pytest.approx({k: alone["narration"][k] for k in keys}, abs=0.02)


@pytest.fixture
def narrating(db: str, redis: Redis) -> None:
    demo_data()


def _qc_of(row_id: int) -> dict[str, object]:
    with new_session() as session:
        row = session.get(StoryAudio, row_id)
        assert row is not None and row.status == "completed", row and row.error_message
        return dict((row.audio_metadata or {})["qc"])


@pytest.mark.slow
@LOCAL_VOICE
def test_the_local_voice_narration_carries_plausible_quality_figures(narrating: None) -> None:
    text = long_story(2_600)
    assert len(split(text, catalogue.model("local", LOCAL["model"]).max_chars)) == 2  # type: ignore[union-attr]
    done = submit(Request(kind="story", target_id=1, prompt=text, **LOCAL))

    assert "completed" in synthesize("story", done.row_id)

    result = _qc_of(done.row_id)
    narration, passages = result["narration"], result["passages"]
    assert isinstance(narration, dict) and isinstance(passages, list)
    assert -35 < narration["loudness_lufs"] < -10
    assert 8 < narration["speaking_rate_cps"] < 25
    assert narration["true_peak_dbtp"] > narration["rms_dbfs"]
    assert len(passages) == 2
    for passage in passages:
        assert -35 < passage["loudness_lufs"] < -10 and 8 < passage["speaking_rate_cps"] < 25
    assert result["verdict"]["profile"] == "Standard"  # type: ignore[index]


@pytest.mark.slow
def test_a_passage_the_provider_returned_much_quieter_is_flagged_until_it_is_narrated_again(
    narrating: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unmastered (the Raw profile keeps the passages as sent), so QC sees what the provider did;
    mastering evens such a passage out (tests/test_mastering.py)."""
    text = long_story(11_000)
    planned = split(text, catalogue.model("openai", "tts-1").max_chars)  # type: ignore[union-attr]
    assert len(planned) == 3
    with FakeProviders(seconds_per_char=0.01) as fake, providers_on(fake, monkeypatch):
        fake.quieter[planned[1]] = 20.0
        asked = Request(kind="story", target_id=1, prompt=text, provider="openai", model="tts-1", voice="nova")
        done = submit(replace(asked, mastering="raw"))
        assert "completed" in synthesize("story", done.row_id)

        passages = _qc_of(done.row_id)["passages"]
        assert isinstance(passages, list)
        assert [bool(p["flags"]) for p in passages] == [False, True, False]
        assert passages[0]["loudness_lufs"] - passages[1]["loudness_lufs"] == pytest.approx(20, abs=0.5)
        assert "LU quieter than its neighbours" in passages[1]["flags"][0]

        # The narration's Details show the figures, the verdict and which passage is flagged, and why.
        editor = staff_user()
        app = open_narration(editor, "story", done.row_id)
        assert "Quality" in texts(app, "caption")
        tables = [frame.value for frame in app.dataframe]
        figures = next(t for t in tables if "true peak" in set(t.iloc[:, 0]))
        shown = dict(zip(figures.iloc[:, 0], figures["value"], strict=True))
        assert shown["loudness"].endswith(" LUFS") and shown["true peak"].endswith(" dBTP")
        assert shown["Raw"] == "passes"  # Raw holds the narration to nothing
        flagged = next(t for t in tables if list(t.columns) == ["passage", "flags"])
        assert flagged.to_dict("records") == [{"passage": "2", "flags": passages[1]["flags"][0]}]

        # Narrating the flagged passage again (the provider now returns it at its usual level)
        # measures the re-joined audio: the flag is gone.
        fake.quieter.clear()
        actions.redo_chunk("story", done.row_id, 1, None, editor)
        assert "redo completed" in synthesize("story", done.row_id)

    redone = _qc_of(done.row_id)["passages"]
    assert isinstance(redone, list)
    assert [p["flags"] for p in redone] == [[], [], []]
    assert redone[1]["loudness_lufs"] == pytest.approx(redone[0]["loudness_lufs"], abs=0.5)
