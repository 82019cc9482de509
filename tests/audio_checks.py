"""What a listener would check about a narration file: it opens, it is as long as it says, it speaks."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def wav_duration(path: Path) -> float:
    with wave.open(str(path)) as reader:
        return float(reader.getnframes() / reader.getframerate())


def wav_rms(path: Path) -> float:
    """Root-mean-square level of 16-bit samples, 0..1 (silence is 0)."""
    with wave.open(str(path)) as reader:
        assert reader.getsampwidth() == 2, "expected 16-bit PCM"
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2)) / 32768.0) if samples.size else 0.0
