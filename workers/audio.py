"""Facts about a WAV file and its bounded inline preview.

The preview lives in the row (`base64_audio`) for instant playback, so it is capped: longer audio
keeps a valid WAV of its opening seconds and the full file stays on disk for download.
"""

from __future__ import annotations

import base64
import io
import wave
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AudioInfo:
    """What the metadata column records about one audio file."""

    format: str
    codec: str
    sample_rate: int
    channels: int
    sample_width_bytes: int
    frames: int
    bytes: int

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.sample_rate

    @property
    def bitrate(self) -> int:
        """Bits per second of the PCM stream."""
        return self.sample_rate * self.channels * self.sample_width_bytes * 8

    def as_metadata(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "codec": self.codec,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "bitrate": self.bitrate,
            "bytes": self.bytes,
            "duration_seconds": round(self.duration_seconds, 3),
        }


class UnreadableAudio(ValueError):
    """The bytes a voice returned are not audio we can store."""


def wav_info(data: bytes) -> AudioInfo:
    try:
        with wave.open(io.BytesIO(data)) as reader:
            return AudioInfo(
                format="wav",
                codec=f"pcm_s{reader.getsampwidth() * 8}le",
                sample_rate=reader.getframerate(),
                channels=reader.getnchannels(),
                sample_width_bytes=reader.getsampwidth(),
                frames=reader.getnframes(),
                bytes=len(data),
            )
    except (wave.Error, EOFError) as error:
        raise UnreadableAudio(f"the voice returned bytes that are not a WAV file ({error})") from error


@dataclass(frozen=True)
class Preview:
    """The base64 text stored in the row, and how much of the audio it holds."""

    base64: str
    seconds: float
    truncated: bool


def wav_preview(data: bytes, max_base64_chars: int) -> Preview:
    """The whole WAV as base64 if it fits, else a valid WAV of as many opening frames as fit."""
    info = wav_info(data)
    encoded = base64.b64encode(data).decode("ascii")
    if len(encoded) <= max_base64_chars:
        return Preview(encoded, info.duration_seconds, truncated=False)
    header = 44
    frame_bytes = info.channels * info.sample_width_bytes
    budget = max_base64_chars * 3 // 4 - header
    frames = max(budget // frame_bytes, 0)
    with wave.open(io.BytesIO(data)) as reader:
        pcm = reader.readframes(frames)
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(info.channels)
        writer.setsampwidth(info.sample_width_bytes)
        writer.setframerate(info.sample_rate)
        writer.writeframes(pcm)
    return Preview(base64.b64encode(out.getvalue()).decode("ascii"), frames / info.sample_rate, truncated=True)
