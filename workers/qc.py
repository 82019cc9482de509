"""Quality checks: what a finished narration and each of its passages measure, and what looks wrong.

Measured once, on the joined samples the job already holds (no re-decoding of the encoded file),
and per passage on slices of them. Nothing here changes the audio: it reports what listeners will
hear. Figures follow the usual tools so people can check them in Audacity or ffmpeg: integrated
loudness per ITU-R BS.1770 (pyloudnorm), true peak with 4× oversampling (BS.1770-4 Annex 2, soxr
as the interpolator), RMS in dBFS where a full-scale square wave reads 0 dB (so a full-scale sine
reads −3 dB, as Audacity and ACX's checker read it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyloudnorm
import soxr
from scipy.signal import sosfilt

from workers.encoding import PAUSE_SECONDS

FLOOR_DB = -120.0
"""What digital silence reads as, instead of −∞ (JSON has no infinity; anything this low is silence)."""

WINDOW_SECONDS = 0.01
"""Silence is found in 10 ms windows: fine enough for head/tail lengths, cheap on an hour of audio."""

NOISE_WINDOW_SECONDS = 0.05
"""The noise floor is the level of the quietest 50 ms windows: short enough to fit between words."""

NOISE_PERCENTILE = 10.0
"""Which quiet windows: the 10th percentile of window levels, so a few dropouts don't read as the floor."""

SILENCE_DB = -50.0
"""A window below −50 dBFS RMS is silence: well under quiet speech (about −35), above any dither."""

OVERSAMPLING = 4
"""BS.1770-4 Annex 2: 4× oversampling finds inter-sample peaks to within about 0.5 dB at 48 kHz."""

OVERSAMPLER_QUALITY = "MQ"
"""soxr's medium quality: on speech-like noise within 0.02 dB of its high quality, and +3.01 dB on the
fs/4 test signal like it, in half the time (an hour in about 2 s on one busy core). BS.1770-4's own
interpolator is a 48-tap FIR, no sharper than this; soxr's low quality cuts too much treble (−0.9 dB).
"""

TRUE_PEAK_BLOCK_SECONDS = 30.0
"""True peak is found in 30 s blocks so an hour of audio never sits oversampled in memory at once."""

CLIPPING_DBTP = -0.1
"""A passage whose true peak is above −0.1 dBTP clips on most decoders and converters."""

QUIETER_LU = 6.0
"""A passage more than 6 LU quieter than each neighbour: a listener turns the volume up, then down."""

RATE_FACTOR = 1.4
"""A passage speaking more than 1.4× faster or slower than the narration's median passage. One voice
varies by about ±15 % between passages of ordinary prose; a skipped sentence in a four-sentence
passage makes it about a third faster, a model running on after the text ends makes it slower."""

RATE_MIN_PASSAGES = 3
"""A median of fewer than three passages says nothing about which one is off."""

GUARD = 1e-10
"""Added to every other sample (−206 dBFS, far below anything measured or FLOOR_DB): in digital
silence the filters' and the oversampler's output would otherwise decay into subnormal floats,
which slow them tenfold."""


STANDARD_MAX_TRUE_PEAK = -2.0
"""The Standard profile (issue 11): true peak at or below −2 dBTP, headroom for lossy encoding."""


@dataclass(frozen=True)
class Passage:
    """Where one passage lies in the joined samples, and the text it reads."""

    start: int
    end: int
    text: str


def _db(power: float) -> float:
    """A mean-square power as dB (20·log10 of its root), silence as FLOOR_DB."""
    return max(FLOOR_DB, 10 * math.log10(power)) if power > 0 else FLOOR_DB


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 2)


def as_float(samples: np.ndarray) -> np.ndarray:
    """A float32 copy of the samples, int16 scaled to [−1, 1), with GUARD added to every other one."""
    if samples.dtype.kind == "i":
        copied: np.ndarray = np.multiply(samples, 1 / 32768, dtype=np.float32)
    else:
        copied = samples.astype(np.float32)
    copied[::2] += GUARD
    return copied


def peaks(samples: np.ndarray, rate: int) -> np.ndarray:
    """The true peak (linear) of each 10 ms window: the highest absolute value of the signal
    oversampled 4×, kept per window so passages read theirs without oversampling again."""
    size = max(1, round(WINDOW_SECONDS * rate))
    wide = size * OVERSAMPLING
    stream = soxr.ResampleStream(rate, rate * OVERSAMPLING, 1, dtype="float32", quality=OVERSAMPLER_QUALITY)
    block = max(1, int(TRUE_PEAK_BLOCK_SECONDS * rate))
    found: list[np.ndarray] = []
    pending = np.zeros(0, dtype=np.float32)
    for begin in range(0, samples.size, block):
        out = stream.resample_chunk(samples[begin : begin + block], last=begin + block >= samples.size)
        pending = np.concatenate((pending, np.abs(out)))
        full = pending.size // wide
        found.append(pending[: full * wide].reshape(full, wide).max(axis=1))
        pending = pending[full * wide :]
    if pending.size:
        found.append(pending.max(keepdims=True))
    return np.concatenate(found) if found else np.zeros(0, dtype=np.float32)


def _peak_db(window_peaks: np.ndarray) -> float:
    peak = float(window_peaks.max()) if window_peaks.size else 0.0
    return 20 * math.log10(peak) if peak > 0 else FLOOR_DB


def k_weighted(samples: np.ndarray, rate: int) -> np.ndarray:
    """The signal through BS.1770's K-weighting (pyloudnorm's two filter stages), in one pass."""
    sections = []
    for stage in pyloudnorm.Meter(rate)._filters.values():
        b, a = np.asarray(stage.b) * stage.passband_gain, np.asarray(stage.a)
        sections.append(np.concatenate([b / a[0], a / a[0]]))
    # float32 sections keep sosfilt in single precision: ten times faster on an hour than float64, and
    # within 0.01 LU of pyloudnorm (second-order sections stay accurate where one 4th-order filter would not)
    weighted: np.ndarray = sosfilt(np.array(sections, dtype=np.float32), samples)
    return weighted


def _block_power(weighted: np.ndarray, rate: int, block_seconds: float) -> np.ndarray:
    """Mean-square power of `block_seconds` blocks every 100 ms (BS.1770's and Tech 3342's grids),
    summed from 100 ms steps so an hour costs one pass over the samples."""
    step = max(1, round(0.1 * rate))
    steps = weighted.size // step
    per_block = round(block_seconds / 0.1)
    if steps < per_block:
        return np.zeros(0)
    framed = weighted[: steps * step].reshape(steps, step)
    sums = np.concatenate(([0.0], np.cumsum(np.einsum("ij,ij->i", framed, framed), dtype=np.float64)))
    power: np.ndarray = (sums[per_block:] - sums[:-per_block]) / (per_block * step)
    return power


def _lufs(power: np.ndarray | float) -> Any:
    with np.errstate(divide="ignore"):
        return -0.691 + 10 * np.log10(power)


def gated_loudness(weighted: np.ndarray, rate: int) -> float | None:
    """Integrated loudness in LUFS (BS.1770-4: 400 ms blocks, 75 % overlap, gates at −70 LUFS and
    10 LU under the ungated mean), or None when too short or silent. The same figure as
    pyloudnorm's `integrated_loudness` (the tests check it), without its per-block Python loop."""
    power = _block_power(weighted, rate, 0.4)
    above = power[_lufs(power) > -70.0]
    if above.size == 0:
        return None
    kept = above[_lufs(above) > _lufs(float(np.mean(above))) - 10.0]
    return float(_lufs(float(np.mean(kept))))


def loudness_range(weighted: np.ndarray, rate: int) -> float | None:
    """Loudness range in LU (EBU Tech 3342): the spread of 3 s short-term loudness, 10th to 95th
    percentile, after gates at −70 LUFS and 20 LU under their mean."""
    short_term = _lufs(_block_power(weighted, rate, 3.0))
    gated = short_term[short_term >= -70.0]
    if gated.size == 0:
        return None
    relative = 10 * math.log10(float(np.mean(10 ** (gated / 10)))) - 20.0
    kept = gated[gated >= relative]
    return float(np.percentile(kept, 95) - np.percentile(kept, 10))


@dataclass(frozen=True)
class _Windows:
    """Mean-square power of consecutive 10 ms windows: silence and noise floor both read from it."""

    power: np.ndarray
    seconds: float

    @classmethod
    def of(cls, samples: np.ndarray, rate: int) -> _Windows:
        size = max(1, round(WINDOW_SECONDS * rate))
        count = samples.size // size
        framed = samples[: count * size].reshape(count, size)
        return cls(np.einsum("ij,ij->i", framed, framed) / size, size / rate)

    def silence(self) -> tuple[float, float, float]:
        """Head silence, tail silence and the longest silence between sounds, in seconds."""
        loud = np.flatnonzero(self.power > 10 ** (SILENCE_DB / 10))
        if loud.size == 0:
            whole = self.power.size * self.seconds
            return whole, whole, 0.0
        gaps = np.diff(loud) - 1
        inner = int(gaps.max()) if gaps.size else 0
        return loud[0] * self.seconds, (self.power.size - 1 - loud[-1]) * self.seconds, inner * self.seconds

    def noise_floor(self) -> float:
        group = round(NOISE_WINDOW_SECONDS / WINDOW_SECONDS)
        count = self.power.size // group
        if count == 0:
            return _db(float(np.mean(self.power))) if self.power.size else FLOOR_DB
        wider = self.power[: count * group].reshape(count, group).mean(axis=1)
        return _db(float(np.percentile(wider, NOISE_PERCENTILE)))


def _figures(
    samples: np.ndarray, window_peaks: np.ndarray, weighted: np.ndarray, rate: int, characters: int
) -> dict[str, float | None]:
    """The figures every piece gets, narration or passage (`window_peaks`: its 10 ms windows' true
    peaks; `weighted`: its K-weighted samples)."""
    windows = _Windows.of(samples, rate)
    head, tail, inner = windows.silence()
    seconds = samples.size / rate
    speech = seconds - head - tail
    return {
        "seconds": _round(seconds),
        "loudness_lufs": _round(gated_loudness(weighted, rate)),
        "true_peak_dbtp": _round(_peak_db(window_peaks)),
        "rms_dbfs": _round(_db(float(np.dot(samples, samples)) / samples.size) if samples.size else FLOOR_DB),
        "noise_floor_dbfs": _round(windows.noise_floor()),
        "head_silence_seconds": _round(head),
        "tail_silence_seconds": _round(tail),
        "longest_inner_silence_seconds": _round(inner),
        "speaking_rate_cps": _round(characters / speech) if speech > 0 else None,
    }


def _flags(passages: list[dict[str, Any]]) -> None:
    """Add each passage's `flags`: sentences a listener would notice."""
    rates = [p["speaking_rate_cps"] for p in passages if p["speaking_rate_cps"]]
    median = float(np.median(rates)) if len(rates) >= RATE_MIN_PASSAGES else None
    for index, passage in enumerate(passages):
        flags: list[str] = []
        rate = passage["speaking_rate_cps"]
        if median and rate and not 1 / RATE_FACTOR <= rate / median <= RATE_FACTOR:
            pace = "faster" if rate > median else "slower"
            flags.append(f"speaks {rate:.1f} chars/s, {pace} than the median {median:.1f}: skipped or runaway speech?")
        if passage["true_peak_dbtp"] > CLIPPING_DBTP:
            flags.append(f"clips: true peak {passage['true_peak_dbtp']:+.1f} dBTP")
        neighbours = [passages[i]["loudness_lufs"] for i in (index - 1, index + 1) if 0 <= i < len(passages)]
        level = passage["loudness_lufs"]
        if level is not None and neighbours and all(n is not None and n - level > QUIETER_LU for n in neighbours):
            louder = min(n for n in neighbours if n is not None)
            flags.append(f"{louder - level:.1f} LU quieter than its neighbours")
        passage["flags"] = flags


@dataclass(frozen=True)
class Requirements:
    """What a mastering profile promises, as ranges the verdict checks (None: not checked)."""

    profile: str
    """The profile's name as staff read it (Standard, ACX audiobook, ...)."""
    true_peak_dbtp: float | None = None
    """At most."""
    loudness_lufs: tuple[float, float] | None = None
    rms_dbfs: tuple[float, float] | None = None
    noise_floor_dbfs: float | None = None
    """At most."""
    head_seconds: tuple[float, float] | None = None
    tail_seconds: tuple[float, float] | None = None


STANDARD = Requirements("Standard", true_peak_dbtp=STANDARD_MAX_TRUE_PEAK, loudness_lufs=(-19.0, -17.0))
"""The default profile's checks: its −18 LUFS target within a LU, and headroom for lossy encoding."""


def _failure(check: str, measured: float, limit: float, off_by: float, text: str) -> dict[str, Any]:
    return {"check": check, "limit": limit, "measured": measured, "over_by": round(off_by, 2), "text": text}


def _outside(check: str, measured: float | None, bounds: tuple[float, float], unit: str) -> list[dict[str, Any]]:
    low, high = bounds
    if measured is None:
        return [_failure(check, FLOOR_DB, low, low - FLOOR_DB, f"{check} could not be measured (silence?)")]
    if measured < low:
        text = f"{check} {measured:.1f} {unit}, {low - measured:.1f} {unit} under the {low:g} to {high:g} {unit} range"
        return [_failure(check, measured, low, low - measured, text)]
    if measured > high:
        text = f"{check} {measured:.1f} {unit}, {measured - high:.1f} {unit} over the {low:g} to {high:g} {unit} range"
        return [_failure(check, measured, high, measured - high, text)]
    return []


def verdict(narration: dict[str, Any], required: Requirements = STANDARD) -> dict[str, Any]:
    """The profile's verdict: passed, or which checks fail and by how much."""
    failures: list[dict[str, Any]] = []
    peak = narration["true_peak_dbtp"]
    if required.true_peak_dbtp is not None and peak > required.true_peak_dbtp:
        limit = required.true_peak_dbtp
        text = f"true peak {peak:+.1f} dBTP, {peak - limit:.1f} dB over the {limit:+g} dBTP limit"
        failures.append(_failure("true peak", peak, limit, peak - limit, text))
    floor = narration["noise_floor_dbfs"]
    if required.noise_floor_dbfs is not None and floor is not None and floor > required.noise_floor_dbfs:
        limit = required.noise_floor_dbfs
        text = f"noise floor {floor:.1f} dBFS, {floor - limit:.1f} dB over the {limit:g} dBFS limit"
        failures.append(_failure("noise floor", floor, limit, floor - limit, text))
    for check, key, bounds, unit in (
        ("loudness", "loudness_lufs", required.loudness_lufs, "LUFS"),
        ("RMS", "rms_dbfs", required.rms_dbfs, "dB"),
        ("head", "head_silence_seconds", required.head_seconds, "s"),
        ("tail", "tail_silence_seconds", required.tail_seconds, "s"),
    ):
        if bounds is not None:
            failures += _outside(check, narration.get(key), bounds, unit)
    return {"profile": required.profile, "passed": not failures, "failures": failures}


def measure(
    samples: np.ndarray, rate: int, passages: Sequence[Passage], required: Requirements = STANDARD
) -> dict[str, Any]:
    """Every figure for the narration and each passage, the passages' flags, and the verdict (JSON)."""
    signal = as_float(samples)
    weighted = k_weighted(signal, rate)  # once: a passage's slice of it differs only in its first ms
    window_peaks = peaks(signal, rate)
    narration: dict[str, Any] = _figures(signal, window_peaks, weighted, rate, sum(len(p.text) for p in passages))
    narration["loudness_range_lu"] = _round(loudness_range(weighted, rate))
    size = max(1, round(WINDOW_SECONDS * rate))
    pieces = [
        {
            "index": i,
            # a passage's true peak is read from the windows it touches: at most 10 ms of the pause
            # that joins it to its neighbour, which is silence
            **_figures(
                signal[p.start : p.end],
                window_peaks[p.start // size : -(-p.end // size)],
                weighted[p.start : p.end],
                rate,
                len(p.text),
            ),
        }
        for i, p in enumerate(passages)
    ]
    _flags(pieces)
    return {"narration": narration, "passages": pieces, "verdict": verdict(narration, required)}


def spans(lengths: Sequence[int], pause: int) -> list[tuple[int, int]]:
    """Where passages of `lengths` samples lie once joined with `pause` samples between each two."""
    out: list[tuple[int, int]] = []
    start = 0
    for length in lengths:
        out.append((start, start + length))
        start += length + pause
    return out


def passages(pcm_chunks: Sequence[bytes], texts: Sequence[str], rate: int) -> list[Passage]:
    """Where each of `pcm_chunks` (16-bit, read `texts`) lies once `encoding.join` has joined them."""
    where = spans([len(pcm) // 2 for pcm in pcm_chunks], round(PAUSE_SECONDS * rate))
    return [Passage(start, end, text) for (start, end), text in zip(where, texts, strict=True)]


def summary(qc: dict[str, Any]) -> dict[str, str]:
    """The few figures a narration's page shows, as text."""
    narration, result = qc["narration"], qc["verdict"]

    def figure(key: str, unit: str) -> str:
        value = narration.get(key)
        return "—" if value is None else f"{value:.1f} {unit}"

    failing = "; ".join(f["text"] for f in result["failures"])
    return {
        "loudness": figure("loudness_lufs", "LUFS"),
        "true peak": figure("true_peak_dbtp", "dBTP"),
        "RMS": figure("rms_dbfs", "dBFS"),
        "noise floor": figure("noise_floor_dbfs", "dBFS"),
        "speaking rate": figure("speaking_rate_cps", "chars/s"),
        result["profile"]: "passes" if result["passed"] else f"fails: {failing}",
    }


def flagged(qc: dict[str, Any]) -> list[dict[str, str]]:
    """One row per flagged passage (numbered from 1, as the passage list shows them)."""
    return [{"passage": str(p["index"] + 1), "flags": "; ".join(p["flags"])} for p in qc["passages"] if p["flags"]]
