"""IPA lexicon entries sent as an ElevenLabs pronunciation dictionary, where the model takes one.

ElevenLabs applies phoneme rules only with Flash v2 (and the retired English v1); other models skip
them silently. So for a narration in a model that takes them, the entries with IPA that its text
holds are made into a dictionary (once per set of rules, kept in `tts_pronunciation_dictionary`),
the terms go as written, and every request names the dictionary; everywhere else those entries are
respelled like the rest. A dictionary that cannot be made leaves the respellings in place: the
narration is never held up for it.
"""

from __future__ import annotations

import hashlib
import json
import logging

from db import lexicon as lexicon_rows
from db.engine import new_session
from db.lexicon import Entry
from db.lifecycle import ClaimedWork
from workers.engine.pronounce import Lexicon
from workers.engine.providers import registry
from workers.engine.providers.base import ProviderError
from workers.engine.providers.elevenlabs_tts import ElevenLabsProvider

log = logging.getLogger(__name__)

PHONEME_MODELS = frozenset({"eleven_flash_v2"})
"""ElevenLabs models that apply phoneme rules."""


def _rules(entries: list[Entry]) -> list[tuple[str, str]]:
    return sorted((e.term, e.ipa) for e in entries if e.ipa)


def _key(rules: list[tuple[str, str]]) -> str:
    return hashlib.sha256(json.dumps(rules, ensure_ascii=False).encode()).hexdigest()


def spoken(work: ClaimedWork, lexicon: Lexicon, text: str) -> tuple[Lexicon, tuple[str, str] | None]:
    """The lexicon to respell with and the dictionary (id, version) to name, for this narration."""
    if work.provider != "elevenlabs" or work.model not in PHONEME_MODELS:
        return lexicon, None
    said_in_ipa = [e for e in lexicon.found(text) if e.ipa]
    if not said_in_ipa:
        return lexicon, None
    rules = _rules(said_in_ipa)
    key = _key(rules)
    with new_session() as session:
        made = lexicon_rows.dictionary(session, key)
    if made is None:
        provider = registry.get("elevenlabs")
        assert isinstance(provider, ElevenLabsProvider)
        try:
            made = provider.make_dictionary(f"Narration Desk {key[:12]}", rules)
        except ProviderError as error:
            log.warning("%s #%s: no pronunciation dictionary (%s); respelling instead", work.kind, work.row_id, error)
            return lexicon, None
        with new_session() as session:
            lexicon_rows.keep_dictionary(session, key, made)
            session.commit()
    return lexicon.without(said_in_ipa), made
