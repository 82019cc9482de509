"""Texts built to make a splitter slow: what a paste or a Django row could hold, a megabyte each.

Shared by tests/test_chunking.py (each splits in under a second) and `make bench BENCH=splitter`
(each one's time against one plain whitespace scan of the same text).
"""

from __future__ import annotations

from collections.abc import Callable

MEGABYTE = 1_048_576


def _fill(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


_SHAPES: dict[str, Callable[[int], str]] = {
    "spaces only": lambda n: " " * n,
    "a word, one long space run, a word": lambda n: "Once" + " " * (n - 9) + "upon.",
    "space runs before a dash": lambda n: _fill(" " * 5_000 + "- ", n),
    "newline, then a space run": lambda n: _fill("\n" + " " * 5_000 + "x", n),
    "- - - -": lambda n: _fill("- ", n),
    "— — —": lambda n: _fill("— ", n),
    "dash and space runs": lambda n: _fill(" –  -   —    ", n),
    "commas before space runs": lambda n: _fill("," + " " * 2_000, n),
    "full stops only": lambda n: "." * n,
    "closing quotes after a stop": lambda n: "Stop." + "”" * (n - 5),
    "no punctuation": lambda n: _fill("the keeper watched the sea all night long ", n),
    "one long word": lambda n: "w" * n,
    "a + combining accents": lambda n: "a" + "\u0301" * (n - 1),
}


def adversarial_texts(size: int = MEGABYTE) -> dict[str, str]:
    """Each text by name, `size` characters long; "mixed" is a slice of every other one in a row."""
    texts = {name: make(size) for name, make in _SHAPES.items()}
    texts["mixed"] = "".join(text[: size // len(_SHAPES)] for text in texts.values())
    return texts
