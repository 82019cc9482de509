"""Quality checks and mastering: their cost on a one-hour narration and beside the local voice's synthesis.

1. An hour of speech-like audio (noise shaped into syllables and words, with pauses; generated, not
   synthesized) in 180 passages of 20 s: `workers.engine.qc.measure` vs encoding the same samples as WAV,
   measured in the same run as the baseline. Goal: under 3 s. Then the checks' peak memory on an
   hour at 24 kHz (OpenAI's rate), beside the int16 samples the job already holds. Goal: well
   under 400 MB.
2. A story on the local voice: synthesizing its passages (Piper, as the job asks it) is the
   baseline; mastering them (Standard, with the pauses its text calls for) and checking the result
   are timed on that audio. Goal: mastering and checks together at most 5 % of the synthesis.
3. Mastering the hour of 1. (Standard), and checking it: seconds, and their share of what the local
   voice would take to synthesize an hour (the story's synthesis time per second of audio, × 3,600).
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from redis import Redis

from db.settings import get_settings
from tests.factories import LOCAL
from tests.test_long_text import long_story
from workers.engine import catalogue, mastering, qc
from workers.engine.chunking import split
from workers.engine.encoding import PAUSE_SECONDS, encode
from workers.engine.providers.base import ChunkRequest
from workers.engine.providers.local import LocalProvider, voice

RATE = 22_050
MEMORY_RATE = 24_000
HOUR = 3_600
PASSAGE_SECONDS = 20
ROUNDS = 3
STORY_CHARACTERS = 3_000
STANDARD = mastering.PROFILES["standard"]


def speech_like(seconds: int, rate: int = RATE, seed: int = 11) -> np.ndarray:
    """Noise at varied levels in 0.2 s syllables, four to a word, words and pauses between them:
    loudness, peaks, gates and silences all have work to do, unlike a steady tone."""
    rng = np.random.default_rng(seed)
    syllable = round(0.2 * rate)
    count = seconds * rate // syllable
    levels = 10 ** (rng.uniform(-32, -12, count) / 20)
    levels[rng.random(count) < 0.2] = 10 ** (-65 / 20)  # pauses: room noise, not digital zero
    envelope = np.repeat(levels, syllable) * np.tile(np.hanning(syllable), count)
    noise = rng.standard_normal(envelope.size)
    return (np.clip(noise * envelope, -1, 1) * 32767).astype(np.int16)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _hour_passages(samples: np.ndarray, rate: int) -> list[qc.Passage]:
    size = PASSAGE_SECONDS * rate
    return [qc.Passage(start, start + size, "a" * 300) for start in range(0, samples.size, size)]


def _hour() -> dict[str, float]:
    samples = speech_like(HOUR)
    passages = _hour_passages(samples, RATE)
    encoding = statistics.median(_timed(lambda: encode(samples, RATE, "wav")) for _ in range(ROUNDS))
    checks = statistics.median(_timed(lambda: qc.measure(samples, RATE, passages)) for _ in range(ROUNDS))
    return {
        "one hour: encoding as WAV (s, median of 3; baseline)": encoding,
        "one hour: quality checks (s, median of 3; goal < 3)": checks,
        "one hour: checks / WAV encoding": checks / encoding,
    }


def _hour_memory() -> dict[str, float]:
    """Peak memory the checks allocate (Python and NumPy, by tracemalloc) on top of the samples."""
    samples = speech_like(HOUR, rate=MEMORY_RATE)
    passages = _hour_passages(samples, MEMORY_RATE)
    tracemalloc.start()
    try:
        qc.measure(samples, MEMORY_RATE, passages)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return {
        "one hour at 24 kHz: its int16 samples (MB; baseline)": samples.nbytes / 1e6,
        "one hour at 24 kHz: checks' peak memory (MB; goal well < 400)": peak / 1e6,
        "one hour at 24 kHz: checks' memory / samples": peak / samples.nbytes,
    }


def _story() -> tuple[dict[str, float], float]:
    """The story's figures, and the local voice's synthesis seconds per second of audio."""
    text = long_story(STORY_CHARACTERS, seed=5)
    model = catalogue.model("local", LOCAL["model"])
    assert model is not None
    texts = split(text, model.max_chars)
    provider = LocalProvider()
    voice()  # loaded once, outside the timings
    started = time.perf_counter()
    audio = [provider.synthesize(ChunkRequest(text=t, model=LOCAL["model"], voice=LOCAL["voice"])) for t in texts]
    synthesis = time.perf_counter() - started
    settings = get_settings()
    pcm, rates = [a.pcm for a in audio], [a.sample_rate for a in audio]
    done = mastering.master_passages(pcm, rates, texts, text, STANDARD, settings)
    master = statistics.median(
        _timed(lambda: mastering.master_passages(pcm, rates, texts, text, STANDARD, settings)) for _ in range(ROUNDS)
    )
    passages = [qc.Passage(start, end, t) for (start, end), t in zip(done.spans, texts, strict=True)]
    checks = statistics.median(
        _timed(lambda: qc.measure(done.samples, done.sample_rate, passages, STANDARD.checks)) for _ in range(ROUNDS)
    )
    seconds = done.samples.size / done.sample_rate
    figures = {
        f"local voice, {STORY_CHARACTERS:,} characters ({seconds:.0f} s): synthesis (s; baseline)": synthesis,
        "local voice: mastering, Standard (s, median of 3)": master,
        "local voice: quality checks (s, median of 3)": checks,
        "local voice: mastering / synthesis, %": 100 * master / synthesis,
        "local voice: mastering + checks / synthesis, % (goal <= 5)": 100 * (master + checks) / synthesis,
    }
    return figures, synthesis / seconds


def _hour_mastering(synthesis_per_second: float) -> dict[str, float]:
    samples = speech_like(HOUR)
    size = PASSAGE_SECONDS * RATE
    pieces = [mastering.Piece(samples[start : start + size].tobytes(), RATE) for start in range(0, samples.size, size)]
    started = time.perf_counter()
    done = mastering.master(pieces, [PAUSE_SECONDS] * (len(pieces) - 1), STANDARD)
    master = time.perf_counter() - started
    passages = [qc.Passage(start, end, "a" * 300) for start, end in done.spans]
    checks = _timed(lambda: qc.measure(done.samples, done.sample_rate, passages, STANDARD.checks))
    synthesis = synthesis_per_second * HOUR
    return {
        "one hour: local voice synthesis, estimated (s; baseline)": synthesis,
        "one hour: mastering, Standard (s, once)": master,
        "one hour: mastering + checks (s)": master + checks,
        "one hour: mastering + checks / synthesis, % (goal <= 5)": 100 * (master + checks) / synthesis,
    }


def run(connection: Redis) -> dict[str, float]:
    story, synthesis_per_second = _story()
    return {**_hour(), **_hour_memory(), **story, **_hour_mastering(synthesis_per_second)}
