"""A pronunciation lexicon applied to text: each term replaced by how to say it, for every provider.

A term matches whatever its case ("aoife", "AOIFE") and only as a whole word: letters or digits
on either side mean another word ("Aoifeen"), anything else (spaces, punctuation, an apostrophe,
the text's edges) bounds it, so "Aoife's", "(Aoife)" and "Aoife," all match. Longer terms win over
shorter ones they contain ("Ní Bhriain" before "Ní"). The respelling takes the match's capital: a
term at the start of a sentence says "EE-fa" however the entry spells it, and one in capitals says
it in capitals.

The lexicon is applied to each passage as it is sent, not to the stored text, so the passages
read and redo as they were written, and a changed entry re-narrates only the passages that hold
it (`db/lexicon.py`); chunking leaves room for what it adds (`workers/engine/narrate.py`).
"""

from __future__ import annotations

import re
from collections import Counter

from db.lexicon import Entry


def _cased(said: str, matched: str) -> str:
    if matched.isupper() and len(matched) > 1:
        return said.upper()
    if matched[:1].isupper():
        return said[:1].upper() + said[1:]
    return said


class Lexicon:
    """A set of entries, compiled once into one pattern."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = [e for e in entries if e.term.strip()]
        self._by_term = {e.term.casefold(): e for e in self.entries}
        terms = sorted(self._by_term, key=len, reverse=True)
        alternatives = "|".join(re.escape(t) for t in terms)
        self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE) if terms else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def entry(self, matched: str) -> Entry:
        return self._by_term[matched.casefold()]

    def apply(self, text: str) -> str:
        """The text as it is sent: every term replaced by its respelling."""
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: _cased(self.entry(m.group()).respelling, m.group()), text)

    def found(self, text: str) -> Counter[Entry]:
        """Which entries the text holds, and how many times each."""
        if self._pattern is None:
            return Counter()
        return Counter(self.entry(m.group()) for m in self._pattern.finditer(text))

    def spans(self, text: str) -> list[tuple[int, int, Entry]]:
        """Where each term is in the text (start, end, entry): what compose highlights."""
        if self._pattern is None:
            return []
        return [(m.start(), m.end(), self.entry(m.group())) for m in self._pattern.finditer(text)]

    def without(self, entries: list[Entry]) -> Lexicon:
        """The lexicon less these entries (said another way: by a pronunciation dictionary)."""
        gone = {e.id for e in entries}
        return Lexicon([e for e in self.entries if e.id not in gone])

    def growth(self, text: str) -> int:
        """How many characters the lexicon adds to the text (0 when it shortens it)."""
        return max(0, len(self.apply(text)) - len(text))


EMPTY = Lexicon([])
