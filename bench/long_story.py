"""Long story: a 60,000-character narration with chunks in parallel vs one chunk at a time.

Against the HTTP-level fake OpenAI with a fixed latency per request, so the only difference is
how many chunks are in flight. The ideal speed-up is chunks / ceil(chunks / concurrency).
"""

from __future__ import annotations

import math
import os
import time

from redis import Redis

from db.settings import get_settings
from tests.fake_providers import FakeProviders
from tests.test_long_text import long_story
from workers.engine.catalogue import model
from workers.engine.chunking import split
from workers.engine.jobs import synthesize
from workers.engine.providers import registry
from workers.service.submit import Request, submit

LATENCY = 0.5
CONCURRENCY = 4


def _narrate(story_id: int, text: str, concurrency: int) -> float:
    os.environ["OPENAI_CONCURRENCY"] = str(concurrency)
    get_settings.cache_clear()
    done = submit(
        Request(kind="story", target_id=story_id, prompt=text, provider="openai", model="tts-1", voice="nova")
    )
    started = time.perf_counter()
    outcome = synthesize("story", done.row_id)
    assert "completed" in outcome, outcome
    return time.perf_counter() - started


def run(connection: Redis) -> dict[str, float]:
    text = long_story(60_000)
    chunks = len(split(text, model("openai", "tts-1").max_chars))  # type: ignore[union-attr]
    with FakeProviders(seconds_per_char=0.01, latency=LATENCY) as fake:
        os.environ.update(OPENAI_API_KEY=fake.api_key, OPENAI_BASE_URL=fake.openai_base_url)
        registry.get.cache_clear()
        sequential = _narrate(1, text, 1)
        parallel = _narrate(2, text, CONCURRENCY)
    return {
        "chunks": float(chunks),
        "one chunk at a time (s)": sequential,
        f"{CONCURRENCY} chunks at a time (s)": parallel,
        "speed-up": sequential / parallel,
        "ideal speed-up, chunks / ceil(chunks / concurrency)": chunks / math.ceil(chunks / CONCURRENCY),
    }
