"""Splitter: each megabyte of adversarial text split at OpenAI's limit, against one whitespace scan.

The baseline is `re.finditer(r"\\s+", text)` run over the same text in the same run: the least any
splitter that looks for spaces must do. A ratio that stays flat across the texts is a linear
splitter; the quadratic one took minutes on a megabyte of spaces.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import partial

from redis import Redis

from tests.adversarial_text import adversarial_texts
from workers.chunking import split_spans

LIMIT = 4_096
_WHITESPACE = re.compile(r"\s+")


def _seconds(action: Callable[[], object]) -> float:
    """The best of three runs: the machine's other work only ever adds time."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def _scan(text: str) -> int:
    return sum(1 for _ in _WHITESPACE.finditer(text))


def run(connection: Redis) -> dict[str, float]:
    results: dict[str, float] = {}
    for name, text in adversarial_texts().items():
        baseline = _seconds(partial(_scan, text))
        splitter = _seconds(partial(split_spans, text, LIMIT))
        results[f"{name}: splitter (s)"] = splitter
        results[f"{name}: ratio to one whitespace scan"] = splitter / baseline
    return results
