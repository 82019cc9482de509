"""What a listener would check about a narration file: it opens, it is as long as it says, it speaks."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from workers.engine import mastering, qc


def wav_duration(path: Path) -> float:
    with wave.open(str(path)) as reader:
        return float(reader.getnframes() / reader.getframerate())


def wav_rms(path: Path) -> float:
    """Root-mean-square level of 16-bit samples, 0..1 (silence is 0)."""
    with wave.open(str(path)) as reader:
        assert reader.getsampwidth() == 2, "expected 16-bit PCM"
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2)) / 32768.0) if samples.size else 0.0


_MP3_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MP3_RATES = (44_100, 48_000, 32_000)


def mp3_frames(data: bytes) -> list[tuple[int, int]]:
    """(kbps, sample rate) of every MPEG-1 Layer III frame, walked header to header as a decoder
    does (after an ID3v2 tag, if any); a CBR file's frames all carry the same bitrate."""
    at = 0
    if data[:3] == b"ID3":
        at = 10 + ((data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9])
    frames: list[tuple[int, int]] = []
    while at + 4 <= len(data):
        header = int.from_bytes(data[at : at + 4], "big")
        if header >> 21 != 0x7FF:
            break  # trailing tag (ID3v1/APE) or padding
        assert (header >> 19) & 3 == 3 and (header >> 17) & 3 == 1, "not MPEG-1 Layer III"
        kbps, rate = _MP3_KBPS[(header >> 12) & 0xF], _MP3_RATES[(header >> 10) & 3]
        frames.append((kbps, rate))
        at += 144_000 * kbps // rate + ((header >> 9) & 1)
    return frames


def raw_narration(pcm: list[bytes], texts: list[str], rate: int) -> tuple[np.ndarray, list[qc.Passage]]:
    """The passages joined as the Raw profile joins them (as sent, 0.4 s apart), and where each lies."""
    joined = mastering.master(
        [mastering.Piece(p, rate) for p in pcm], [0.0] * (len(pcm) - 1), mastering.PROFILES["raw"]
    )
    return joined.samples, [qc.Passage(a, b, t) for (a, b), t in zip(joined.spans, texts, strict=True)]
