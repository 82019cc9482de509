"""How far what a listener heard is from what the passage says: word error rate and the words that differ.

Both texts are normalized the same way first (case, punctuation, numbers written as words), so
"It was 12 o'clock, sharp." and "it was twelve oclock sharp" count as the same words: a
transcription model writes numbers and punctuation its own way, and only a word that sounds
different should count. The alignment and the rate are jiwer's (Levenshtein over words).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import jiwer
from num2words import num2words

MAX_DIFFERENCES = 5
"""How many differing stretches a passage keeps: enough to see what went wrong, short enough to read."""

_SYMBOLS = {"%": " percent ", "&": " and ", "+": " plus ", "@": " at "}
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(st|nd|rd|th)?(?![\w])")
_DIGIT_GROUPS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_APOSTROPHES = re.compile(r"['\u2019\u02bc]")


def _spelled(match: re.Match[str]) -> str:
    """A number as a listener hears it: 12 → twelve, 3.5 → three point five, 21st → twenty-first."""
    digits, ordinal = match.group(1), match.group(2)
    if ordinal and "." not in digits:
        return f" {num2words(int(digits), to='ordinal')} "
    value: float | int = float(digits) if "." in digits else int(digits)
    return f" {num2words(value)} "


def words(text: str) -> list[str]:
    """The text's words, normalized: lower case, numbers spelled out, punctuation gone."""
    folded = unicodedata.normalize("NFKC", text).lower()
    folded = _APOSTROPHES.sub("", folded)  # "don't" and "dont" are one word as heard
    folded = _DIGIT_GROUPS.sub("", folded)  # 1,000 is one number
    for symbol, spoken in _SYMBOLS.items():
        folded = folded.replace(symbol, spoken)
    folded = _NUMBER.sub(_spelled, folded)
    kept = "".join(c if unicodedata.category(c)[0] in "LN" else " " for c in folded)
    return kept.split()


@dataclass(frozen=True)
class Difference:
    """One stretch where the words differ: `expected` empty means words were added, `heard` empty missed."""

    expected: str
    heard: str

    def said(self) -> str:
        """As a person reads it: "'lantern' heard as 'lanterns'", "'the old' missing", "'today' added"."""
        expected, heard = _short(self.expected), _short(self.heard)
        if not heard:
            return f"'{expected}' missing"
        if not expected:
            return f"'{heard}' added"
        return f"'{expected}' heard as '{heard}'"


def _short(stretch: str) -> str:
    """A long stretch (a skipped sentence) by its first and last words and its length."""
    parts = stretch.split()
    return stretch if len(parts) <= 8 else f"{' '.join(parts[:3])} … {' '.join(parts[-2:])} ({len(parts)} words)"


@dataclass(frozen=True)
class Comparison:
    wer: float
    """Substituted, missing and added words over the words expected (can pass 1 when much is added)."""
    expected_words: int
    differences: list[Difference]
    """Every differing stretch, in reading order."""


def compare(expected: str, heard: str) -> Comparison:
    """The word error rate of `heard` against `expected`, and where they differ."""
    reference, hypothesis = words(expected), words(heard)
    if not reference:
        added = [Difference("", " ".join(hypothesis))] if hypothesis else []
        return Comparison(1.0 if hypothesis else 0.0, 0, added)
    if not hypothesis:
        return Comparison(1.0, len(reference), [Difference(" ".join(reference), "")])
    output = jiwer.process_words(" ".join(reference), " ".join(hypothesis))
    differences: list[Difference] = []
    stretch: tuple[int, int, int, int] | None = None  # neighbouring edits read as one difference
    for chunk in [*output.alignments[0], None]:
        if chunk is not None and chunk.type != "equal":
            start = stretch or (chunk.ref_start_idx, chunk.ref_end_idx, chunk.hyp_start_idx, chunk.hyp_end_idx)
            stretch = (start[0], chunk.ref_end_idx, start[2], chunk.hyp_end_idx)
            continue
        if stretch is not None:
            a, b, c, d = stretch
            differences.append(Difference(" ".join(reference[a:b]), " ".join(hypothesis[c:d])))
            stretch = None
    return Comparison(float(output.wer), len(reference), differences)
