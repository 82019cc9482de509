"""A few seconds of each voice, so staff hear a voice before paying for a whole story in it.

A sample is synthesized the first time someone asks for it and kept in the media store under
samples/ (MEDIA_ROOT or the bucket, so every host finds the one made first), so each voice is paid
for once (a fraction of a cent), not on every page view.
"""

from __future__ import annotations

import re

from db.settings import get_settings
from workers.engine import catalogue, mastering
from workers.engine.encoding import encode
from workers.engine.media import RefusedPath
from workers.engine.providers import registry
from workers.engine.providers.base import ChunkRequest, ProviderError
from workers.engine.store import media_store

SAMPLE_TEXT = "Once upon a time, in a quiet house by the sea, a story was waiting to be told."
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class NoSample(ValueError):
    """The sample could not be made; the message says why and what to do."""


def sample_path(provider: str, model: str, voice: str) -> str:
    """Where a voice's sample lives, relative to the media store (names cleaned: they become file names)."""
    parts = [_UNSAFE.sub("_", part) for part in (provider, model, voice)]
    return f"samples/{parts[0]}/{parts[1]}/{parts[2]}.wav"


def voice_sample(provider: str, model: str, voice: str) -> bytes:
    """WAV bytes of SAMPLE_TEXT in this voice, synthesized on first use. Raises NoSample."""
    settings = get_settings()
    info = catalogue.provider(provider)
    found = catalogue.model(provider, model)
    if info is None or found is None or voice not in found.voices:
        raise NoSample(f"{provider} {model} has no voice {voice!r}; pick one from the list.")
    missing = catalogue.missing_key(info, settings)
    if missing:
        raise NoSample(f"{info.label} needs an API key for samples too: set {missing}.")
    relative = sample_path(provider, model, voice)
    store = media_store()
    try:
        kept = store.read(relative, "sample")
    except RefusedPath as refused:
        raise NoSample(f"No sample for this voice: {refused} Pick another voice.") from None
    if kept is not None:
        return kept
    try:
        audio = registry.get(provider).synthesize(ChunkRequest(text=SAMPLE_TEXT, model=model, voice=voice))
    except ProviderError as error:
        raise NoSample(f"No sample right now: {error}") from None
    # mastered like a narration, so voices are compared at one loudness, not by who is louder
    sample = mastering.master([mastering.Piece(audio.pcm, audio.sample_rate)], [], mastering.PROFILES["standard"])
    data = encode(sample.samples, sample.sample_rate, "wav").data
    store.write(relative, data, "sample", durable=False)
    return data
