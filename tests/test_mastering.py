"""Mastering, checked by measurement the way a producer would check a file.

Loudness with pyloudnorm's own meter and true peak with scipy's polyphase resampler, not with the
code under test (workers/engine/qc.py uses soxr and its own gating): an error in either shows as a
disagreement. Passages are speech-like noise (syllable-rate envelope, band-limited like a voice)
or the fake providers' tone, at levels and rates providers really send.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator

import numpy as np
import pyloudnorm
import pytest
import soundfile
from redis import Redis
from scipy.ndimage import uniform_filter1d
from scipy.signal import butter, resample_poly, sosfilt

from db.engine import new_session
from db.models import Chunk, StoryAudio
from db.settings import get_settings
from tests.audio_checks import mp3_frames
from tests.factories import LOCAL, demo_data, staff_user
from tests.fake_providers import FakeProviders
from tests.test_long_text import long_story
from tests.workers_env import LOCAL_VOICE, providers_on
from workers.engine import catalogue
from workers.engine.chunking import split
from workers.engine.encoding import PAUSE_SECONDS, encode
from workers.engine.jobs import synthesize
from workers.engine.mastering import KEEP_SECONDS, PROFILES, Piece, master, ramped
from workers.engine.pauses import Break, breaks
from workers.service import actions
from workers.service.submit import Request, submit

SILENT_DB = -50.0


def speech_like(seconds: float, rate: int, rms_db: float, seed: int) -> np.ndarray:
    """Noise under a 4 Hz syllable envelope, band-limited to 80 Hz–5 kHz, at `rms_db` dBFS RMS."""
    rng = np.random.default_rng(seed)
    count = round(seconds * rate)
    envelope = np.abs(np.sin(np.pi * 4 * np.arange(count) / rate)) ** 1.5
    voiced = sosfilt(butter(4, [80, 5000], btype="band", fs=rate, output="sos"), rng.standard_normal(count))
    signal = voiced * envelope
    scaled: np.ndarray = signal * 10 ** (rms_db / 20) / np.sqrt(np.mean(signal**2))
    return scaled


def pcm(samples: np.ndarray, rate: int, edge_seconds: float = 0.0) -> Piece:
    """16-bit PCM as a provider sends it, with `edge_seconds` of silence at both ends."""
    edge = np.zeros(round(edge_seconds * rate))
    padded = np.concatenate((edge, samples, edge))
    return Piece((np.clip(padded, -1, 32767 / 32768) * 32768).astype("<i2").tobytes(), rate)


def as_float(samples: np.ndarray) -> np.ndarray:
    return samples.astype(np.float64) / 32768


def true_peak_db(samples: np.ndarray) -> float:
    """BS.1770-4 Annex 2: the largest magnitude of the signal 4× oversampled (scipy, not soxr)."""
    return 20 * math.log10(float(np.max(np.abs(resample_poly(samples, 4, 1)))))


def lufs(samples: np.ndarray, rate: int) -> float:
    return float(pyloudnorm.Meter(rate).integrated_loudness(samples))


def audible(samples: np.ndarray, rate: int) -> np.ndarray:
    """Which 10 ms windows are louder than −50 dBFS RMS."""
    size = rate // 100
    count = samples.size // size
    power = np.mean(samples[: count * size].reshape(count, size) ** 2, axis=1)
    with np.errstate(divide="ignore"):
        return np.asarray(10 * np.log10(power) > SILENT_DB)


def head_and_tail(samples: np.ndarray, rate: int) -> tuple[float, float]:
    loud = np.flatnonzero(audible(samples, rate))
    return loud[0] / 100, (audible(samples, rate).size - 1 - loud[-1]) / 100


def test_passages_45_db_apart_at_three_rates_come_out_within_a_lu_and_under_the_ceiling() -> None:
    pieces = [
        pcm(speech_like(6, 24_000, -20, 1), 24_000, edge_seconds=0.4),
        pcm(speech_like(5, 22_050, -53, 2), 22_050, edge_seconds=0.1),  # a generation that came back quiet
        pcm(speech_like(7, 44_100, -8, 3), 44_100),  # ...and one far too loud, at another rate
    ]
    out = master(pieces, [0.5, 0.9], PROFILES["standard"])
    signal = as_float(out.samples)

    assert out.sample_rate == 44_100  # resampled up to the highest rate, not refused
    levels = [lufs(signal[a:b], out.sample_rate) for a, b in out.spans]
    assert max(levels) - min(levels) <= 1.0, levels
    assert all(abs(level - -18.0) <= 1.0 for level in levels), levels
    assert true_peak_db(signal) <= -2.0
    assert out.metadata["profile"] == "standard" and len(out.metadata["passage_gains_db"]) == 3


def test_speech_with_sharp_peaks_is_limited_without_clipping_and_keeps_its_loudness() -> None:
    """Podcast loudness on speech with plosive-like bursts 18 dB over the rest: the limiter must work."""
    rng = np.random.default_rng(7)
    speech = speech_like(8, 24_000, -20, 4)
    bump = 7 * np.hanning(240)  # 10 ms, smooth: a burst stays band-limited, as a real plosive is
    for at in rng.choice(speech.size - 240, 40, replace=False):
        speech[at : at + 240] *= 1 + bump
    out = master([pcm(speech, 24_000)], [], PROFILES["podcast"])
    signal = as_float(out.samples)

    assert true_peak_db(signal) <= -1.0
    assert np.max(np.abs(signal)) < 0.999  # never clipped to full scale
    assert lufs(signal, 24_000) == pytest.approx(-16.0, abs=1.0)
    assert out.metadata["limiter_max_reduction_db"] > 3  # it did have to limit


def test_no_join_clicks() -> None:
    """Tones cut at full swing (as a provider's passage may start and end): after mastering, the
    sample-to-sample jump at each edge is no larger than inside the passages."""
    rate = 24_000
    t = np.arange(rate * 2) / rate
    pieces = [pcm(0.3 * np.cos(2 * np.pi * 220 * t), rate), pcm(0.3 * np.cos(2 * np.pi * 330 * t + 1), rate)]
    out = master(pieces, [0.5], PROFILES["standard"])
    signal = as_float(out.samples)
    steps = np.abs(np.diff(signal))
    inside = max(float(steps[a + 480 : b - 480].max()) for a, b in out.spans)
    for a, b in out.spans:
        for edge in (a, b):
            around = steps[max(0, edge - 240) : edge + 240]
            assert float(around.max()) <= inside * 1.001, f"a jump of {around.max():.4f} at sample {edge}"


def test_edges_are_trimmed_and_the_pauses_follow_the_text() -> None:
    rate = 24_000
    prompt = "The door opened. Nobody came in.\n\nLater, the wind rose"
    texts = ["The door opened.", "Nobody came in.", "Later, the wind rose"]
    assert breaks(prompt, texts) == [Break.SENTENCE, Break.PARAGRAPH]
    settings = get_settings()
    gaps = [settings.pause_sentence_seconds, settings.pause_paragraph_seconds]
    pieces = [pcm(speech_like(2, rate, -22, i), rate, edge_seconds=0.35) for i in range(3)]
    out = master(pieces, gaps, PROFILES["standard"])
    signal = as_float(out.samples)

    head, tail = head_and_tail(signal, rate)
    assert head == pytest.approx(PROFILES["standard"].head_seconds + KEEP_SECONDS, abs=0.02)
    assert tail == pytest.approx(PROFILES["standard"].tail_seconds + KEEP_SECONDS, abs=0.02)
    # the silence a listener hears between passages: the pause plus the few ms trimming keeps
    loud = audible(signal, rate)
    heard = [
        np.flatnonzero(~loud[round(b / rate * 100) - 5 : round(a2 / rate * 100) + 5]).size / 100
        for (_, b), (a2, _) in zip(out.spans, out.spans[1:], strict=False)
    ]
    assert heard[1] > heard[0]  # a paragraph break is longer than a sentence break
    for silence, gap in zip(heard, gaps, strict=True):
        assert silence == pytest.approx(gap + 2 * KEEP_SECONDS, abs=0.03)


def test_a_passage_cut_inside_a_sentence_or_edited_since_is_still_read_right() -> None:
    prompt = "A sentence so long that it had to be cut, right here and then it went on. Next one."
    texts = ["A sentence so long that it had to be cut,", "right here and then it went on.", "Next one."]
    assert breaks(prompt, texts) == [Break.CLAUSE, Break.SENTENCE]
    # a redo changed the second passage's text: not in the prompt any more, its punctuation decides
    assert breaks(prompt, [texts[0], "right here, then it went on!", texts[2]]) == [Break.CLAUSE, Break.SENTENCE]


def test_acx_files_meet_acx(tmp_path: object) -> None:
    pieces = [pcm(speech_like(9, 24_000, -26 + 4 * i, i), 24_000, edge_seconds=0.2) for i in range(3)]
    out = master(pieces, [0.5, 0.9], PROFILES["acx"])
    encoded = encode(out.samples, out.sample_rate, "mp3", mp3_kbps=192)

    frames = mp3_frames(encoded.data)
    assert len(frames) > 100 and set(frames) == {(192, 44_100)}  # constant 192 kbps, 44.1 kHz
    decoded, rate = soundfile.read(io.BytesIO(encoded.data), dtype="float64")
    assert rate == 44_100
    rms = 20 * math.log10(float(np.sqrt(np.mean(decoded**2))))
    assert -23.0 <= rms <= -18.0
    assert 20 * math.log10(float(np.max(np.abs(decoded)))) <= -3.0  # ACX reads the decoded file's peak
    head, tail = head_and_tail(decoded, rate)
    assert 0.5 <= head <= 1.0 and 1.0 <= tail <= 5.0
    room = decoded[round(0.1 * rate) : round(0.4 * rate)]
    floor = 20 * math.log10(float(np.sqrt(np.mean(room**2))))
    assert -90 < floor <= -60.0  # room tone: quiet, but not digital silence


def test_raw_joins_the_passages_as_they_came() -> None:
    pieces = [pcm(speech_like(2, 24_000, level, i), 24_000, edge_seconds=0.2) for i, level in enumerate((-30, -12))]
    out = master(pieces, [0.9], PROFILES["raw"])
    pause = np.zeros(round(PAUSE_SECONDS * 24_000), dtype=np.int16)  # fixed, whatever the text asks
    first, second = (np.frombuffer(p.pcm, dtype="<i2") for p in pieces)
    assert np.array_equal(out.samples, np.concatenate((first, pause, second)))


# --- whole narrations, through the worker ---------------------------------------------------------


@pytest.fixture
def narrating(db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviders]:
    demo_data()
    with FakeProviders(seconds_per_char=0.01) as fake, providers_on(fake, monkeypatch):
        yield fake


def _file_and_metadata(row_id: int) -> tuple[np.ndarray, int, dict[str, object]]:
    with new_session() as session:
        row = session.get(StoryAudio, row_id)
        assert row is not None and row.status == "completed" and row.audio_file, row and row.error_message
        samples, rate = soundfile.read(get_settings().media_path / row.audio_file, dtype="float64")
        return samples, rate, dict(row.audio_metadata or {})


def _passage_levels(samples: np.ndarray, rate: int, metadata: dict[str, object]) -> list[float]:
    """Each passage's loudness, read between the starts the metadata records (the pauses between
    are silence, which BS.1770's gates leave out)."""
    mastered = metadata["mastering"]
    assert isinstance(mastered, dict)
    starts = [round(s * rate) for s in mastered["passage_starts"]]
    ends = [*starts[1:], samples.size - round(mastered["tail_seconds"] * rate)]
    return [lufs(samples[a:b], rate) for a, b in zip(starts, ends, strict=True)]


def test_a_provider_returning_uneven_passages_with_edge_silence_gives_an_even_narration_and_a_redo_matches(
    narrating: FakeProviders,
) -> None:
    fake = narrating
    text = long_story(11_000)
    planned = split(text, catalogue.model("openai", "tts-1").max_chars)  # type: ignore[union-attr]
    assert len(planned) == 3
    fake.quieter[planned[1]] = 20.0
    fake.edge_silence = 0.3
    done = submit(Request(kind="story", target_id=1, prompt=text, provider="openai", model="tts-1", voice="nova"))
    assert "completed" in synthesize("story", done.row_id)

    samples, rate, metadata = _file_and_metadata(done.row_id)
    levels = _passage_levels(samples, rate, metadata)
    assert max(levels) - min(levels) <= 1.0, levels
    assert true_peak_db(samples) <= -2.0
    assert head_and_tail(samples, rate)[0] == pytest.approx(0.25 + KEEP_SECONDS, abs=0.02)  # not 0.3 + 0.25
    qc = metadata["qc"]
    assert isinstance(qc, dict) and qc["verdict"]["passed"] and not any(p["flags"] for p in qc["passages"])
    assert _passage_rows_qc(done.row_id) == qc["passages"]  # each passage row carries its own figures

    # The provider now sends passage 2 10 dB too loud: the redo is mastered with its neighbours.
    fake.quieter[planned[1]] = -10.0
    actions.redo_chunk("story", done.row_id, 1, None, staff_user())
    assert "redo completed" in synthesize("story", done.row_id)
    samples, rate, metadata = _file_and_metadata(done.row_id)
    levels = _passage_levels(samples, rate, metadata)
    assert max(levels) - min(levels) <= 1.0, levels
    assert _passage_rows_qc(done.row_id) == metadata["qc"]["passages"]  # type: ignore[index]


def _passage_rows_qc(row_id: int) -> list[object]:
    with new_session() as session:
        rows = session.query(Chunk).filter(Chunk.story_audio_id == row_id).order_by(Chunk.idx).all()
        return [row.qc for row in rows]


@pytest.mark.slow
@LOCAL_VOICE
def test_the_local_voice_no_longer_clips(narrating: FakeProviders) -> None:
    """Before mastering the local voice read −20.9 LUFS with true peak +0.1 dBTP (issue 11)."""
    done = submit(Request(kind="story", target_id=1, prompt=long_story(2_600), **LOCAL))
    assert "completed" in synthesize("story", done.row_id)
    samples, rate, metadata = _file_and_metadata(done.row_id)
    assert true_peak_db(samples) <= -2.0
    assert lufs(samples, rate) == pytest.approx(-18.0, abs=1.0)
    levels = _passage_levels(samples, rate, metadata)
    assert max(levels) - min(levels) <= 1.0, levels


@pytest.mark.parametrize(
    ("size", "ahead", "total"), [(220, 110, 220 * 300), (441, 220, 441 * 300 - 17), (240, 120, 240 * 300 - 239)]
)
def test_the_limiters_gain_ramps_are_the_moving_average_of_its_steps(size: int, ahead: int, total: int) -> None:
    """The limiter averages its gain only near the windows where it changes: the result is what a
    moving average over every sample gives, with changes in adjacent windows, at both ends, and long
    stretches of no change (as speech gives it)."""
    rng = np.random.default_rng(size)
    steps = np.ones(-(-total // size), dtype=np.float32)
    for start in rng.choice(steps.size - 10, 25, replace=False):
        steps[start : start + rng.integers(1, 10)] = rng.uniform(0.3, 1.0)
    steps[:2], steps[-1] = (0.5, 0.7), 0.4

    expected = uniform_filter1d(np.repeat(steps, size)[:total], size=2 * ahead + 1, mode="nearest")

    assert ramped(steps, size, ahead, total) == pytest.approx(expected, abs=1e-6)
