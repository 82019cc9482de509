"""Mastering: what listeners hear before and after, and what it costs next to synthesis.

The local voice synthesizes the demo story and a 60,000-character story once, passage by passage
as a job does; the same passages are then joined as before mastering (the Raw profile: as sent,
0.4 s pauses) and mastered (Standard, ACX). A third case gives the long story's passages the
uneven levels providers return (each −12 to +6 dB, one 33 dB down). Each result is measured by the
quality checks: loudness, true peak, and the spread of passage loudness (loudest − quietest).
The cost: mastering and QC time against the synthesis time of the same audio (goal ≤ 5 %).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from redis import Redis

from db.seed import DEMO_STORIES
from db.settings import get_settings
from tests.test_long_text import long_story
from workers.engine import catalogue, qc
from workers.engine.chunking import split
from workers.engine.mastering import PROFILES, Mastered, master_passages
from workers.engine.providers.base import ChunkRequest
from workers.engine.providers.local import LocalProvider, voice

LONG_CHARACTERS = 60_000
MODEL = "piper:en_US-joe-medium"


def _passages(text: str) -> tuple[list[str], list[bytes], int, float]:
    """The text's passages, their PCM from the local voice, its rate, and the synthesis seconds."""
    limit = catalogue.model("local", MODEL).max_chars  # type: ignore[union-attr]
    texts = split(text, limit)
    provider = LocalProvider()
    started = time.perf_counter()
    audio = [provider.synthesize(ChunkRequest(text=t, model=MODEL, voice="joe")) for t in texts]
    return texts, [a.pcm for a in audio], audio[0].sample_rate, time.perf_counter() - started


def _timed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def _figures(label: str, done: Mastered, texts: list[str]) -> tuple[dict[str, float], float]:
    passages = [qc.Passage(a, b, t) for (a, b), t in zip(done.spans, texts, strict=True)]
    result, seconds = _timed(lambda: qc.measure(done.samples, done.sample_rate, passages))
    narration = result["narration"]
    levels = [p["loudness_lufs"] for p in result["passages"] if p["loudness_lufs"] is not None]
    return {
        f"{label}: loudness (LUFS)": narration["loudness_lufs"],
        f"{label}: true peak (dBTP)": narration["true_peak_dbtp"],
        f"{label}: passage spread (LU, loudest - quietest)": max(levels) - min(levels) if levels else 0.0,
        f"{label}: head silence (s)": narration["head_silence_seconds"],
        f"{label}: tail silence (s)": narration["tail_silence_seconds"],
    }, seconds


def _case(name: str, text: str, pcm: list[bytes], texts: list[str], rate: int) -> tuple[dict[str, float], float]:
    """Raw and mastered figures of one narration; returns them and the Standard mastering time."""
    settings = get_settings()
    out: dict[str, float] = {}
    mastering_seconds = 0.0
    for profile in ("raw", "standard", "acx"):
        started = time.perf_counter()
        done = master_passages(pcm, [rate] * len(pcm), texts, text, PROFILES[profile], settings)
        if profile == "standard":
            mastering_seconds = time.perf_counter() - started
        figures, _ = _figures(f"{name}, {'before (raw)' if profile == 'raw' else profile}", done, texts)
        out |= figures
    return out, mastering_seconds


def _uneven(pcm: list[bytes]) -> list[bytes]:
    """The passages at the levels providers return: −12 to +6 dB each, the third one 33 dB down."""
    rng = np.random.default_rng(5)
    gains = rng.uniform(-12, 6, len(pcm))
    gains[2] = -33.0
    return [
        (np.clip(np.frombuffer(p, "<i2") * 10 ** (g / 20), -32768, 32767)).astype("<i2").tobytes()
        for p, g in zip(pcm, gains, strict=True)
    ]


def run(connection: Redis) -> dict[str, float]:
    voice()  # loaded once, outside the timings
    results: dict[str, float] = {}
    demo = DEMO_STORIES[0][1]
    texts, pcm, rate, _ = _passages(demo)
    figures, _ = _case("demo story", demo, pcm, texts, rate)
    results |= figures

    long = long_story(LONG_CHARACTERS)
    texts, pcm, rate, synthesis = _passages(long)
    figures, mastering_seconds = _case("60k story", long, pcm, texts, rate)
    results |= figures
    uneven, _ = _case("60k uneven", long, _uneven(pcm), texts, rate)
    results |= {k: v for k, v in uneven.items() if "acx" not in k}

    done = master_passages(pcm, [rate] * len(pcm), texts, long, PROFILES["standard"], get_settings())
    _, qc_seconds = _figures("timing", done, texts)
    audio_seconds = done.samples.size / done.sample_rate
    results |= {
        "60k story: audio (min)": audio_seconds / 60,
        "60k story: local voice synthesis (s)": synthesis,
        "60k story: mastering, Standard (s)": mastering_seconds,
        "60k story: quality checks (s)": qc_seconds,
        "mastering + QC / synthesis (%, goal <= 5)": 100 * (mastering_seconds + qc_seconds) / synthesis,
    }
    return results
