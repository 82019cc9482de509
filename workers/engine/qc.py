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
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pyloudnorm
from scipy.signal import sosfilt

from workers.engine import true_peak

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

BLOCK_SECONDS = 30.0
"""The audio is measured in 30 s blocks, each converted to floats and K-weighted only while it is
measured, so an hour of it never sits in memory as floats (measured whole, an hour at 22.05 kHz
held 679 MB of them)."""

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


def as_float(samples: np.ndarray, start: int = 0) -> np.ndarray:
    """A float32 copy of the part of a signal that begins at sample `start`, int16 scaled to [−1, 1),
    with GUARD added to the signal's every other sample (the same ones, whichever part this is)."""
    if samples.dtype.kind == "i":
        copied: np.ndarray = np.multiply(samples, 1 / 32768, dtype=np.float32)
    else:
        copied = samples.astype(np.float32)
    copied[start % 2 :: 2] += GUARD
    return copied


def _peak_db(window_peaks: np.ndarray) -> float:
    peak = float(window_peaks.max()) if window_peaks.size else 0.0
    return 20 * math.log10(peak) if peak > 0 else FLOOR_DB


def k_weighting(rate: int) -> np.ndarray:
    """BS.1770's K-weighting (pyloudnorm's two filter stages) as second-order sections for `sosfilt`.
    float32 sections keep sosfilt in single precision: ten times faster on an hour than float64, and
    within 0.01 LU of pyloudnorm (second-order sections stay accurate where one 4th-order filter
    would not). A fresh copy each time: sosfilt wants them writable."""
    return _k_sections(rate).copy()


@lru_cache(maxsize=8)
def _k_sections(rate: int) -> np.ndarray:
    """Designed once per rate: a one-passage job weights its audio four times."""
    sections = []
    for stage in pyloudnorm.Meter(rate)._filters.values():
        b, a = np.asarray(stage.b) * stage.passband_gain, np.asarray(stage.a)
        sections.append(np.concatenate([b / a[0], a / a[0]]))
    return np.array(sections, dtype=np.float32)


def k_weighted(samples: np.ndarray, rate: int) -> np.ndarray:
    """A whole signal through K-weighting at once, for mastering's per-passage loudness (GUARD added:
    the pauses between passages are digital silence)."""
    weighted: np.ndarray = sosfilt(k_weighting(rate), as_float(samples))
    return weighted


def gated_loudness(weighted: np.ndarray, rate: int) -> float | None:
    """Integrated loudness in LUFS of K-weighted samples, or None when too short or silent."""
    step = max(1, round(0.1 * rate))
    sums = _Sums(step)
    sums.feed(weighted)
    return _gated(_block_power(sums.steps, step, 0.4))


def peaks(samples: np.ndarray, rate: int, reach: float = 0.0) -> np.ndarray:
    """The true peak (linear) of each 10 ms window of a float signal, for mastering's limiter; a
    window whose true peak cannot reach `reach` (a ceiling) reads its sample peak instead, which
    is all a limiter needs to know of it and spares oversampling it."""
    size = max(1, round(WINDOW_SECONDS * rate))
    sample_peaks = true_peak.absolute_maxima(samples, size)
    return true_peak.window_peaks(lambda begin, end: samples[begin:end], samples.size, rate, size, sample_peaks, reach)


@dataclass
class _Sums:
    """Sums of squares over consecutive `size`-sample steps of one piece, fed its samples in order
    a block at a time (a step may straddle two blocks). A last, partial step is left out of `steps`,
    as BS.1770's blocks and the silence windows leave it out, but counts in `energy`."""

    size: int
    done: list[np.ndarray] = field(default_factory=list)
    partial: float = 0.0
    filled: int = 0

    def feed(self, part: np.ndarray) -> None:
        """Add the piece's next samples: first complete the step the last part left open."""
        head = 0
        if self.filled:
            head = min(part.size, self.size - self.filled)
            self.partial += float(np.dot(part[:head], part[:head]))
            self.filled += head
            if self.filled < self.size:
                return
            self.done.append(np.array([self.partial]))
            self.partial, self.filled = 0.0, 0
        count = (part.size - head) // self.size
        framed = part[head : head + count * self.size].reshape(count, self.size)
        self.done.append(np.einsum("ij,ij->i", framed, framed))
        tail = part[head + count * self.size :]
        self.partial, self.filled = float(np.dot(tail, tail)), tail.size

    @property
    def steps(self) -> np.ndarray:
        return np.concatenate(self.done, dtype=np.float64) if self.done else np.zeros(0)

    @property
    def energy(self) -> float:
        return float(sum(float(np.sum(d, dtype=np.float64)) for d in self.done)) + self.partial


def _block_power(step_sums: np.ndarray, step: int, block_seconds: float) -> np.ndarray:
    """Mean-square power of `block_seconds` blocks every 100 ms (BS.1770's and Tech 3342's grids),
    from the sums of the K-weighted samples' squares over 100 ms steps (`step` samples each)."""
    per_block = round(block_seconds / 0.1)
    if step_sums.size < per_block:
        return np.zeros(0)
    sums = np.concatenate(([0.0], np.cumsum(step_sums, dtype=np.float64)))
    power: np.ndarray = (sums[per_block:] - sums[:-per_block]) / (per_block * step)
    return power


def _lufs(power: np.ndarray | float) -> Any:
    with np.errstate(divide="ignore"):
        return -0.691 + 10 * np.log10(power)


def _gated(power: np.ndarray) -> float | None:
    """Integrated loudness in LUFS of 400 ms blocks' `power` (BS.1770-4: 75 % overlap, gates at
    −70 LUFS and 10 LU under the ungated mean), or None when too short or silent. The same figure as
    pyloudnorm's `integrated_loudness` (the tests check it), without its per-block Python loop."""
    above = power[_lufs(power) > -70.0]
    if above.size == 0:
        return None
    kept = above[_lufs(above) > _lufs(float(np.mean(above))) - 10.0]
    return float(_lufs(float(np.mean(kept))))


def loudness_range(power: np.ndarray) -> float | None:
    """Loudness range in LU (EBU Tech 3342) of 3 s blocks' `power`: the spread of short-term
    loudness, 10th to 95th percentile, after gates at −70 LUFS and 20 LU under their mean."""
    short_term = _lufs(power)
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


@dataclass
class _Piece:
    """The narration or one passage while the blocks go by: the sums its figures are made of."""

    start: int
    end: int
    characters: int
    windows: _Sums  # of the samples' squares, 10 ms steps from `start`
    steps: _Sums  # of the K-weighted samples' squares, 100 ms steps from `start`

    def feed(self, begin: int, samples: np.ndarray, weighted: np.ndarray) -> None:
        """Take this piece's part of the block of `samples` (and their K-weighting) at `begin`."""
        low, high = max(self.start, begin) - begin, min(self.end, begin + samples.size) - begin
        if low < high:
            self.windows.feed(samples[low:high])
            self.steps.feed(weighted[low:high])

    def figures(self, window_peaks: np.ndarray, rate: int) -> dict[str, float | None]:
        """The figures every piece gets (`window_peaks`: the true peaks of the 10 ms windows it touches)."""
        windows = _Windows(self.windows.steps / self.windows.size, self.windows.size / rate)
        head, tail, inner = windows.silence()
        length = self.end - self.start
        seconds = length / rate
        speech = seconds - head - tail
        return {
            "seconds": _round(seconds),
            "loudness_lufs": _round(_gated(_block_power(self.steps.steps, self.steps.size, 0.4))),
            "true_peak_dbtp": _round(_peak_db(window_peaks)),
            "rms_dbfs": _round(_db(self.windows.energy / length) if length else FLOOR_DB),
            "noise_floor_dbfs": _round(windows.noise_floor()),
            "head_silence_seconds": _round(head),
            "tail_silence_seconds": _round(tail),
            "longest_inner_silence_seconds": _round(inner),
            "speaking_rate_cps": _round(self.characters / speech) if speech > 0 else None,
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
    """Every figure for the narration and each passage, the passages' flags, and the verdict (JSON).

    One pass over the audio in blocks: each block is converted to floats and K-weighted once (the
    filter's state carried from block to block, so a passage's part of it is the narration's), and
    every piece it overlaps takes its sums from it; true peaks are then read from the few windows
    that could hold one (`workers.engine.true_peak`)."""
    total = samples.size
    size = max(1, round(WINDOW_SECONDS * rate))
    step = max(1, round(0.1 * rate))
    block = 2 * size * max(1, round(BLOCK_SECONDS * rate / (2 * size)))  # even: GUARD's parity holds

    def piece(start: int, end: int, characters: int) -> _Piece:
        start = min(max(start, 0), total)
        return _Piece(start, min(max(end, start), total), characters, _Sums(size), _Sums(step))

    narration = piece(0, total, sum(len(p.text) for p in passages))
    pieces = [piece(p.start, p.end, len(p.text)) for p in passages]
    starts = np.array([p.start for p in pieces], dtype=np.int64)
    ends = np.array([p.end for p in pieces], dtype=np.int64)
    sections = k_weighting(rate)
    state = np.zeros((sections.shape[0], 2), dtype=np.float32)
    sample_peaks = np.zeros(-(-total // size), dtype=np.float32)
    for begin in range(0, total, block):
        signal = as_float(samples[begin : begin + block], begin)
        weighted, state = sosfilt(sections, signal, zi=state)
        sample_peaks[begin // size : begin // size + -(-signal.size // size)] = true_peak.window_maxima(
            np.abs(signal), size
        )
        narration.feed(begin, signal, weighted)
        for index in np.flatnonzero((starts < begin + signal.size) & (ends > begin)):
            pieces[index].feed(begin, signal, weighted)

    # a passage's true peak is read from the windows it touches: at most 10 ms of the pause that
    # joins it to its neighbour, which is silence
    touched = [(p.start // size, -(-p.end // size)) for p in [narration, *pieces]]
    window_peaks = true_peak.window_peaks(
        lambda begin, end: as_float(samples[begin:end], begin),
        total,
        rate,
        size,
        sample_peaks,
        true_peak.tops(sample_peaks, touched),
    )
    figures: dict[str, Any] = narration.figures(window_peaks, rate)
    figures["loudness_range_lu"] = _round(loudness_range(_block_power(narration.steps.steps, step, 3.0)))
    measured = [
        {"index": i, **p.figures(window_peaks[first:last], rate)}
        for i, (p, (first, last)) in enumerate(zip(pieces, touched[1:], strict=True))
    ]
    _flags(measured)
    return {"narration": figures, "passages": measured, "verdict": verdict(figures, required)}


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
