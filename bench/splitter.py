"""Splitter: each megabyte of adversarial text split at OpenAI's limit, against one whitespace scan.

The baseline is `re.finditer(r"\\s+", text)` run over the same text in the same run: the least any
splitter that looks for spaces must do (cheap on one long run, dear on a million short ones).
Each text is also split at a quarter of the size: a linear splitter takes four times as long for
four times the text; the old quadratic one took 7 s on 20,000 characters of "a word, one long
space run, a word", and minutes on a megabyte.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import partial

from redis import Redis

from tests.adversarial_text import MEGABYTE, adversarial_texts
from workers.engine.chunking import split_spans

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
    quarters = adversarial_texts(MEGABYTE // 4)
    for name, text in adversarial_texts(MEGABYTE).items():
        baseline = _seconds(partial(_scan, text))
        splitter = _seconds(partial(split_spans, text, LIMIT))
        results[f"{name}: splitter (s)"] = splitter
        results[f"{name}: ratio to one whitespace scan"] = splitter / baseline
        results[f"{name}: 1 MB time / 256 KB time (4 = linear)"] = splitter / _seconds(
            partial(split_spans, quarters[name], LIMIT)
        )
    return results
