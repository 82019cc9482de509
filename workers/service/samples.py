"""A few seconds of each voice, so staff hear a voice before paying for a whole story in it.

A sample is synthesized the first time someone asks for it and kept in the media store under
samples/ (MEDIA_ROOT or the bucket, so every host finds the one made first), so each voice is paid
for once (a fraction of a cent), not on every page view.
"""

from __future__ import annotations

import re

from db.settings import get_settings
from workers.engine import account_voices, catalogue, mastering
from workers.engine.encoding import encode
from workers.engine.media import RefusedPath
from workers.engine.providers import registry
from workers.engine.providers.base import ChunkRequest, ProviderError
from workers.engine.store import media_store

SAMPLE_TEXT = "Once upon a time, in a quiet house by the sea, a story was waiting to be told."
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_WORDS_CHARS = 400


class NoSample(ValueError):
    """The sample could not be made; the message says why and what to do."""


def sample_path(provider: str, model: str, voice: str) -> str:
    """Where a voice's sample lives, relative to the media store (names cleaned: they become file names)."""
    parts = [_UNSAFE.sub("_", part) for part in (provider, model, voice)]
    return f"samples/{parts[0]}/{parts[1]}/{parts[2]}.wav"


def _usable(provider: str, model: str, voice: str) -> None:
    """Raise NoSample unless the voice can speak here: known (the catalogue's, or the ElevenLabs
    account's own) and its provider set up."""
    info = catalogue.provider(provider)
    found = catalogue.model(provider, model)
    own = provider == "elevenlabs" and account_voices.named(voice) is not None
    if info is None or found is None or (voice not in found.voices and not own):
        raise NoSample(f"{provider} {model} has no voice {voice!r}; pick one from the list.")
    if missing := catalogue.missing_key(info, get_settings()):
        raise NoSample(f"{info.label} needs an API key for samples too: set {missing}.")


def _spoken(provider: str, model: str, voice: str, text: str) -> bytes:
    """WAV bytes of `text` in the voice, mastered like a narration (so voices and words are heard at
    one loudness, not by who is louder). Raises NoSample."""
    try:
        audio = registry.get(provider).synthesize(ChunkRequest(text=text, model=model, voice=voice))
    except ProviderError as error:
        raise NoSample(f"No sample right now: {error}") from None
    sample = mastering.master([mastering.Piece(audio.pcm, audio.sample_rate)], [], mastering.PROFILES["standard"])
    return encode(sample.samples, sample.sample_rate, "wav").data


def voice_sample(provider: str, model: str, voice: str) -> bytes:
    """WAV bytes of SAMPLE_TEXT in this voice, synthesized on first use. Raises NoSample."""
    _usable(provider, model, voice)
    relative = sample_path(provider, model, voice)
    store = media_store()
    try:
        kept = store.read(relative, "sample")
    except RefusedPath as refused:
        raise NoSample(f"No sample for this voice: {refused} Pick another voice.") from None
    if kept is not None:
        return kept
    data = _spoken(provider, model, voice, SAMPLE_TEXT)
    store.write(relative, data, "sample", durable=False)
    return data


def spoken_word(provider: str, model: str, voice: str, words: str) -> bytes:
    """WAV bytes of a few words alone (a lexicon entry's respelling, tried on the spot); not kept,
    since an entry is tried while it is being written. Raises NoSample."""
    if not words.strip() or len(words) > MAX_WORDS_CHARS:
        raise NoSample(f"Write the words to hear (at most {MAX_WORDS_CHARS} characters).")
    _usable(provider, model, voice)
    return _spoken(provider, model, voice, words)
