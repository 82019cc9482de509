"""Quality checks: their cost on a one-hour narration and next to the local voice's synthesis.

1. An hour of speech-like audio (noise shaped into syllables and words, with pauses; generated, not
   synthesized) in 180 passages of 20 s: `workers.qc.measure` vs encoding the same samples as WAV,
   measured in the same run as the baseline. Goal: under 3 s. Then the checks' peak memory on an
   hour at 24 kHz (OpenAI's rate), beside the int16 samples the job already holds. Goal: well
   under 400 MB.
2. A short story on the local voice: the whole job (synthesis, join, encoding, checks) vs the
   checks alone on its audio. Goal: the checks at most 5 % of the job.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import soundfile
from redis import Redis

from db.engine import new_session
from db.models import SceneAudio
from db.settings import get_settings
from tests.factories import LOCAL
from tests.test_long_text import long_story
from workers import qc
from workers.encoding import PAUSE_SECONDS, encode
from workers.jobs import synthesize
from workers.providers.local import voice
from workers.submit import Request, submit

RATE = 22_050
MEMORY_RATE = 24_000
HOUR = 3_600
PASSAGE_SECONDS = 20
ROUNDS = 3
STORY_CHARACTERS = 3_000


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


def _story() -> dict[str, float]:
    text = long_story(STORY_CHARACTERS, seed=5)
    voice()  # loaded once, outside the timings
    done = submit(Request(kind="scene", target_id=1, prompt=text, **LOCAL))
    job = _timed(lambda: synthesize("scene", done.row_id))
    with new_session() as session:
        row = session.get(SceneAudio, done.row_id)
        assert row is not None and row.audio_file and row.audio_metadata, "the narration did not complete"
        seconds = list(row.audio_metadata["chunk_seconds"])
        path = get_settings().media_path / row.audio_file
    samples, rate = soundfile.read(path, dtype="int16")
    starts = np.cumsum([0.0] + [s + PAUSE_SECONDS for s in seconds[:-1]])
    passages = [qc.Passage(round(a * rate), round((a + s) * rate), "a") for a, s in zip(starts, seconds, strict=True)]
    checks = statistics.median(_timed(lambda: qc.measure(samples, rate, passages)) for _ in range(ROUNDS))
    return {
        f"local voice, {STORY_CHARACTERS:,} characters: whole job (s; baseline)": job,
        "local voice: quality checks (s, median of 3)": checks,
        "local voice: checks / job, % (goal <= 5)": 100 * checks / job,
    }


def run(connection: Redis) -> dict[str, float]:
    return {**_hour(), **_hour_memory(), **_story()}
