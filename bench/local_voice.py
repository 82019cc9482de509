"""Local voice: the Narration Desk path end to end vs raw Piper on the same text.

Both with the voice already loaded. Ours adds chunking, the database rows, chunk files, the join,
encoding, the preview and the final file. Goal: at most 1.1× raw Piper.
"""

from __future__ import annotations

import io
import statistics
import time
import wave

from redis import Redis

from tests.test_long_text import long_story
from workers.engine.jobs import synthesize
from workers.engine.providers.local import voice
from workers.service.submit import Request, submit

CHARACTERS = 5_000
ROUNDS = 3


def _raw(text: str) -> float:
    started = time.perf_counter()
    with wave.open(io.BytesIO(), "wb") as out:
        voice().synthesize_wav(text, out)
    return time.perf_counter() - started


def _ours(text: str, image: int) -> float:
    done = submit(Request(kind="scene", target_id=image, prompt=text, provider="local",
                          model="piper:en_US-joe-medium", voice="joe"))  # fmt: skip
    started = time.perf_counter()
    outcome = synthesize("scene", done.row_id)
    assert "completed" in outcome, outcome
    return time.perf_counter() - started


def run(connection: Redis) -> dict[str, float]:
    text = long_story(CHARACTERS, seed=3)
    voice()  # load once, outside the timings
    raw = statistics.median(_raw(text) for _ in range(ROUNDS))
    ours = statistics.median(_ours(text, 1 + i) for i in range(ROUNDS))
    return {
        "raw Piper (s, median of 3)": raw,
        "Narration Desk job (s, median of 3)": ours,
        "ratio (goal <= 1.1)": ours / raw,
    }
