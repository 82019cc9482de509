"""How long to pause between two passages, read from the text where they meet.

A narrator pauses longer between paragraphs than between sentences, and hardly at all where a
long sentence had to be cut (at a comma, or at a space). The chunker cuts at the coarsest boundary
that fits (workers/engine/chunking.py), so the end of each passage and the text between it and the next
say which of the three it was.
"""

from __future__ import annotations

import re
from enum import StrEnum
from itertools import pairwise

from db.settings import Settings

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’)\]]*$")


class Break(StrEnum):
    """Where one passage ends and the next begins."""

    PARAGRAPH = "paragraph"
    SENTENCE = "sentence"
    CLAUSE = "clause"
    """Inside a sentence: a sentence longer than a passage, cut at a comma or a space."""


def breaks(prompt: str, texts: list[str]) -> list[Break]:
    """The break after each passage but the last. Passages are found in the prompt in order; the
    text between two of them tells a paragraph break (a blank line). Where a passage is not found
    (its text was edited in a redo), its own last character decides between sentence and clause."""
    found: list[Break] = []
    position = 0
    for text, following in pairwise(texts):
        start = prompt.find(text, position) if text else -1
        end = start + len(text) if start >= 0 else -1
        after = prompt.find(following, end) if end >= 0 and following else -1
        position = end if end >= 0 else position
        if end >= 0 and after >= 0 and _PARAGRAPH.search(prompt, end, after):
            found.append(Break.PARAGRAPH)
        elif _SENTENCE_END.search(text.rstrip()):
            found.append(Break.SENTENCE)
        else:
            found.append(Break.CLAUSE)
    return found


def seconds(kind: Break, settings: Settings) -> float:
    """The pause the settings give a break of this kind."""
    return {
        Break.PARAGRAPH: settings.pause_paragraph_seconds,
        Break.SENTENCE: settings.pause_sentence_seconds,
        Break.CLAUSE: settings.pause_clause_seconds,
    }[kind]
