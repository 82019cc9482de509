"""Encoding the mastered narration once, in the format the user (or the profile) asked for.

`soundfile` (libsndfile) encodes WAV, MP3, FLAC and Ogg/Opus without any external program.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

PAUSE_SECONDS = 0.4
"""The pause between passages joined as they are (the raw profile): about a paragraph's."""

_FORMATS = {
    "wav": ("WAV", "PCM_16", "pcm_s16le"),
    "mp3": ("MP3", "MPEG_LAYER_III", "mp3"),
    "flac": ("FLAC", "PCM_16", "flac"),
    "ogg": ("OGG", "OPUS", "opus"),
}
# Opus only takes these rates; other PCM is resampled (soxr) to the nearest one above.
_OPUS_RATES = (8_000, 12_000, 16_000, 24_000, 48_000)


@dataclass(frozen=True)
class Encoded:
    """A finished audio file and the facts the metadata column records."""

    data: bytes
    format: str
    codec: str
    sample_rate: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    def metadata(self) -> dict[str, object]:
        return {
            "format": self.format,
            "codec": self.codec,
            "sample_rate": self.sample_rate,
            "channels": 1,
            "bitrate": round(len(self.data) * 8 / self.seconds) if self.frames else 0,
            "bytes": len(self.data),
            "duration_seconds": round(self.seconds, 3),
        }


def _resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target or samples.size == 0:
        return samples
    resampled: np.ndarray = soxr.resample(samples, rate, target, quality="HQ")
    return resampled


def _mp3_level(kbps: int) -> float:
    """libsndfile's compression level for a constant MP3 bitrate: it maps 0..1 linearly onto
    320..32 kbps and LAME takes the nearest standard rate at or below (0.444 gives 192)."""
    return (320 - kbps) / (320 - 32)


def encode(samples: np.ndarray, sample_rate: int, fmt: str, *, mp3_kbps: int | None = None) -> Encoded:
    """Encode int16 mono samples as `fmt` (one of wav, mp3, flac, ogg); `mp3_kbps` asks for a
    constant MP3 bitrate (ACX requires 192 kbps CBR) instead of LAME's variable default."""
    container, subtype, codec = _FORMATS[fmt]
    rate = sample_rate
    if fmt == "ogg" and rate not in _OPUS_RATES:
        rate = next((r for r in _OPUS_RATES if r >= sample_rate), _OPUS_RATES[-1])
        samples = _resample(samples, sample_rate, rate)
    out = io.BytesIO()
    if fmt == "mp3" and mp3_kbps is not None:
        level = _mp3_level(mp3_kbps)
        soundfile.write(
            out, samples, rate, format=container, subtype=subtype, bitrate_mode="CONSTANT", compression_level=level
        )
    else:
        soundfile.write(out, samples, rate, format=container, subtype=subtype)
    return Encoded(out.getvalue(), fmt, codec, rate, int(samples.size))


@dataclass(frozen=True)
class Preview:
    """The base64 text stored in the row, and how much of the narration it holds."""

    base64: str
    seconds: float
    truncated: bool


def preview(
    samples: np.ndarray,
    sample_rate: int,
    fmt: str,
    full: Encoded,
    max_base64_chars: int,
    *,
    mp3_kbps: int | None = None,
) -> Preview:
    """The whole file as base64 if it fits; else the opening, encoded the same way, as long as fits."""
    encoded = base64.b64encode(full.data).decode("ascii")
    if len(encoded) <= max_base64_chars:
        return Preview(encoded, full.seconds, truncated=False)
    seconds = full.seconds * (max_base64_chars * 3 / 4) / len(full.data)
    while True:
        seconds *= 0.9  # headers and variable bitrates: aim a little short, shrink until it fits
        opening = encode(samples[: int(seconds * sample_rate)], sample_rate, fmt, mp3_kbps=mp3_kbps)
        encoded = base64.b64encode(opening.data).decode("ascii")
        if len(encoded) <= max_base64_chars:
            return Preview(encoded, opening.seconds, truncated=True)
