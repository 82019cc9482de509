"""Chunking at sentence, then clause, then word boundaries; never more than the provider's limit."""

from __future__ import annotations

import itertools
import random
import re
import time

import pytest

from tests.adversarial_text import adversarial_texts
from workers.engine.chunking import split, split_spans

STORY = (
    "Every night the lamp turned. Miso climbed the steps! Did she count ships? The keeper said so.\n\n"
    "One stormy evening, when the wind was loud and the rain came sideways, the lamp went dark; "
    "Miso cried — long and loud — until the keeper woke."
)


def test_short_text_is_one_chunk() -> None:
    assert split("Hello there.", 100) == ["Hello there."]


def test_chunks_end_at_sentences_and_a_long_sentence_at_clauses() -> None:
    assert split(STORY, 60) == [
        "Every night the lamp turned. Miso climbed the steps!",
        "Did she count ships? The keeper said so.",
        "One stormy evening,",
        "when the wind was loud and the rain came sideways,",
        "the lamp went dark; Miso cried — long and loud",
        "— until the keeper woke.",
    ]


def test_a_long_sentence_splits_at_clauses_then_words() -> None:
    sentence = "One stormy evening, when the wind was loud and the rain came sideways, the lamp went dark."
    chunks = split(sentence, 40)
    assert chunks[0] == "One stormy evening,"
    assert all(len(c) <= 40 for c in chunks)
    assert " ".join(chunks) == sentence


def test_a_word_longer_than_the_limit_is_the_only_thing_cut_inside() -> None:
    chunks = split("See https://example.org/" + "a" * 50 + " now.", 20)
    assert all(len(c) <= 20 for c in chunks)
    assert "".join(chunks).replace(" ", "") == ("See https://example.org/" + "a" * 50 + " now.").replace(" ", "")


@pytest.mark.parametrize("seed", range(25))
def test_random_text_round_trips_and_never_breaks_a_word(seed: int) -> None:
    rng = random.Random(seed)
    words = ["lamp", "keeper", "sea", "cat,", "storm;", "night.", "ships?", "bright!", "—", "calm\n\n", "a"]
    text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 400)))
    limit = rng.randint(12, 200)

    spans = split_spans(text, limit)

    assert "".join(spans) == text
    assert all(len(s.strip()) <= limit for s in spans)
    for left, right in itertools.pairwise(spans):
        # Every cut falls on whitespace: no word is split across two chunks.
        assert left[-1].isspace() or right[0].isspace()


def test_sentence_boundaries_are_kept_when_every_sentence_fits() -> None:
    sentences = [f"Sentence number {i} is here." for i in range(300)]
    chunks = split(" ".join(sentences), 4096)
    assert all(c.endswith(".") for c in chunks)
    assert sum(len(re.findall(r"Sentence number", c)) for c in chunks) == 300


@pytest.mark.parametrize(("name", "text"), adversarial_texts().items())
def test_a_megabyte_of_adversarial_text_splits_in_under_a_second(name: str, text: str) -> None:
    limit = 4_096  # OpenAI's; the local voice's 2,000 and ElevenLabs' 40,000 go the same way
    started = time.perf_counter()
    spans = split_spans(text, limit)
    took = time.perf_counter() - started

    assert took < 1.0, f"{name}: {took:.2f} s"
    assert "".join(spans) == text
    assert all(s and len(s.strip()) <= limit for s in spans)
    assert all(chunk and len(chunk) <= limit for chunk in split(text, limit))
