"""Splitting long text into chunks a provider accepts, at the places a narrator would pause.

Audiobook tools taught the rule: a chunk that ends mid-sentence is audible. So chunks end at
sentence boundaries; a sentence longer than the limit is split at clauses (, ; : —), a clause
longer than that at spaces, and only a single "word" longer than the limit (a URL, unspaced
script) is cut inside. The chunks' spans, joined, give back the text exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+|\n\s*\n")
_CLAUSE_END = re.compile(r"(?<=[,;:，；：])\s+|\s+(?=[—–-]\s)")
_SPACE = re.compile(r"\s+")


def _pieces(text: str, boundary: re.Pattern[str]) -> list[str]:
    """`text` cut after each match of `boundary`; the separators stay with the piece before them."""
    pieces, start = [], 0
    for match in boundary.finditer(text):
        if match.end() > start:
            pieces.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _fit(piece: str, limit: int, levels: tuple[re.Pattern[str], ...]) -> Iterable[str]:
    """Break one piece into parts whose stripped text fits `limit`, trying coarse boundaries first."""
    if len(piece.strip()) <= limit:
        yield piece
        return
    if not levels:
        for start in range(0, len(piece), limit):
            yield piece[start : start + limit]
        return
    yield from _pack(_pieces(piece, levels[0]), limit, levels[1:])


def _pack(pieces: list[str], limit: int, levels: tuple[re.Pattern[str], ...]) -> Iterable[str]:
    """Greedily join consecutive pieces while the chunk's stripped text stays within `limit`."""
    current = ""
    for piece in pieces:
        for part in _fit(piece, limit, levels):
            if current and len((current + part).strip()) > limit:
                yield current
                current = ""
            current += part
    if current:
        yield current


def split_spans(text: str, limit: int) -> list[str]:
    """The chunks with their surrounding whitespace: `"".join(split_spans(t, n)) == t`."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return list(_pack(_pieces(text, _SENTENCE_END), limit, (_CLAUSE_END, _SPACE)))


def split(text: str, limit: int) -> list[str]:
    """The chunks to send, stripped, none longer than `limit`, none empty."""
    return [span.strip() for span in split_spans(text, limit) if span.strip()]


def still_fits(chunks: list[str], text: str, limit: int) -> bool:
    """Whether earlier chunks still cover `text` word for word, each within `limit`.

    Then the engine keeps their boundaries instead of splitting again: after one passage was
    edited, a fresh greedy split would shift every later boundary and make every later chunk be
    paid for again."""
    return bool(chunks) and all(0 < len(c) <= limit for c in chunks) and " ".join(chunks).split() == text.split()
