"""Splitting long text into chunks a provider accepts, at the places a narrator would pause.

Audiobook tools taught the rule: a chunk that ends mid-sentence is audible. So a chunk ends at the
last sentence boundary that fits the limit; with none, at the last clause boundary (, ; : —); with
none, at the last space; and only a single "word" longer than the limit (a URL, unspaced script)
is cut inside. The chunks' spans, joined, give back the text exactly.

The work is linear in the text's length, whatever the text (a row from the Django app may hold a
megabyte of spaces or of `- - -`): each chunk looks only at the window of `limit` characters it
may fill, found from the window's end backwards by one pattern, so a whitespace run is scanned
from its first character only and nothing runs a Python step per word.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+|\n\s*\n")
# `(?<!\s)\s++`: a dash's run of spaces is tried from its first space only, and read once; tried
# from every space, a long run not followed by a dash cost its length squared.
_CLAUSE_END = re.compile(r"(?<=[,;:，；：])\s+|(?<!\s)\s++(?=[—–-]\s)")
_SPACE = re.compile(r"\s+")
_HINTS = (r"[.!?…。！？][\"'”’)\]]*+\s|\n\s*\n", r"[,;:，；：—–-]", r"\s")
_LAST_BOUNDARY = tuple(
    (re.compile(hint), re.compile(rf"(?s:.*)(?:{boundary.pattern})"))
    for hint, boundary in zip(_HINTS, (_SENTENCE_END, _CLAUSE_END, _SPACE), strict=True)
)
"""Each kind of boundary, coarsest first: a quick forward look for a character it needs (most
windows have no sentence end, say), then the last one in the window, found by the greedy `.*`
backing off from the window's end."""
_WHITESPACE = re.compile(r"\s*")


def split_spans(text: str, limit: int) -> list[str]:
    """The chunks with their surrounding whitespace: `"".join(split_spans(t, n)) == t`."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    visible_end = len(text.rstrip())
    spans: list[str] = []
    start = 0
    while start < len(text):
        first = _space_after(text, start)  # the chunk's first visible character
        end = len(text) if visible_end <= first + limit else _cut(text, first, limit)
        spans.append(text[start:end])
        start = end
    return spans


def _cut(text: str, first: int, limit: int) -> int:
    """Where the chunk whose visible text starts at `first` ends: after the last boundary of the
    coarsest kind that starts within the next `limit` characters, with the whitespace after it."""
    end = first + limit + 1
    for hint, last_boundary in _LAST_BOUNDARY:
        if hint.search(text, first, end) and (found := last_boundary.match(text, first, end)):
            return _space_after(text, found.end())
    return first + limit


def _space_after(text: str, position: int) -> int:
    return _WHITESPACE.match(text, position).end()  # type: ignore[union-attr]  # \s* always matches


def split(text: str, limit: int) -> list[str]:
    """The chunks to send, stripped, none longer than `limit`, none empty."""
    return [span.strip() for span in split_spans(text, limit) if span.strip()]


def still_fits(chunks: list[str], text: str, limit: int) -> bool:
    """Whether earlier chunks still cover `text` word for word, each within `limit`.

    Then the engine keeps their boundaries instead of splitting again: after one passage was
    edited, a fresh greedy split would shift every later boundary and make every later chunk be
    paid for again."""
    return bool(chunks) and all(0 < len(c) <= limit for c in chunks) and " ".join(chunks).split() == text.split()
