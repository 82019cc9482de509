"""Mastering: the passages as providers sent them, made into one narration a listener hears as one.

What audiobook producers do by hand in a DAW, done the same way for every narration:

1. **Resample** every passage to the narration's rate with soxr (a real band-limited resampler;
   passages from different providers or models arrive at 22.05, 24 or 44.1 kHz).
2. **Trim** each passage's leading and trailing silence to a few milliseconds, so the pauses are
   ours and not whatever each provider left at the edges.
3. **Match loudness**: each passage is brought to the profile's target integrated loudness
   (ITU-R BS.1770, the same meter the quality checks use), so passages, generations and
   providers sit within a fraction of a LU of each other.
4. **Join** with pauses that follow the text (workers/engine/pauses.py), with short raised-cosine fades
   at every edge so no cut clicks.
5. **Limit** true peaks to the profile's ceiling with a look-ahead limiter: gain comes down
   smoothly before a peak and recovers after it, never by clipping.
6. **Room tone** at the head and tail (and, for ACX, in the pauses) per profile.

Everything is float32 and vectorised (numpy, scipy.ndimage, soxr); nothing loops per sample in
Python, so an hour of audio masters in seconds. `raw` skips it all: the passages as sent, joined
by a fixed pause (resampled only if their rates differ).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import soxr
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from db.settings import Settings
from workers.engine import pauses, qc
from workers.engine.encoding import PAUSE_SECONDS

FADE_SECONDS = 0.01
"""A 10 ms raised-cosine fade at each passage edge: long enough that no cut clicks, short enough
that no syllable is softened (a plosive's burst takes about 10 ms to build)."""

KEEP_SECONDS = 0.03
"""How much of a passage's edge silence trimming keeps: soft onsets (an 'h', an 'f') start below the
threshold and would lose their first milliseconds with none."""

TRIM_BELOW_LU = 40.0
"""A 10 ms window 40 dB under the passage's loud windows (its 95th percentile) counts as silence at
its edges: relative, so a passage a provider returned 30 dB too quiet is trimmed like the others."""

MAX_GAIN_DB = 40.0
"""The most a passage is raised: more would lift noise that only looked like speech."""

LOOKAHEAD_SECONDS = 0.005
"""The limiter's gain ramps over 2 × 5 ms around each step instead of stepping."""

RELEASE_SECONDS = 0.06
"""...and holds the lowered gain 60 ms after it: a syllable's peaks share one gain, no pumping."""

ROUNDS = 4
"""Make-up and limiting rounds at most; two are usually enough."""

ON_TARGET_DB = 0.3
"""Close enough to the profile's target: a listener cannot hear 0.3 dB, and the checks allow ±1."""

EVEN_WITHIN_LU = 0.25
"""After limiting, a passage further than this from the median loudness is corrected."""

LIMITER_MARGIN_DB = 0.1
"""The limiter aims this far under the ceiling; a last static trim catches what is left."""

ROOM_TONE_SEED = 1
"""Room tone is seeded noise: the same narration masters to the same bytes."""

SILENCE = -math.inf


@dataclass(frozen=True)
class Profile:
    """What a finished narration must measure, and the shape of its file."""

    name: str
    label: str
    loudness_lufs: float | None
    """Each passage's integrated loudness; None leaves passages as the provider sent them."""
    true_peak_dbtp: float | None
    """The limiter's ceiling; None: no limiter."""
    head_seconds: float = 0.0
    tail_seconds: float = 0.0
    rms_dbfs: float | None = None
    """A whole-file RMS target (ACX measures RMS, not loudness), reached by one gain after the join."""
    room_tone_dbfs: float | None = None
    """The level of the noise in head, tail and pauses; None: digital silence."""
    sample_rate: int | None = None
    """The file's rate; None: the passages' highest."""
    output_format: str | None = None
    """A format the profile requires (ACX: MP3), overriding the narration's own."""
    mp3_kbps: int | None = None
    """Constant MP3 bitrate the profile requires."""
    text_pauses: bool = True
    """Pauses follow the text; False: PAUSE_SECONDS everywhere (raw)."""
    requirements: tuple[str, ...] = field(default=())
    """What the profile promises, as staff read it on compose."""
    checks: qc.Requirements = qc.Requirements("Raw")  # noqa: RUF009 (frozen: one shared instance is right)
    """What the quality checks hold the finished narration to (Raw: nothing)."""


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "standard",
            "Standard",
            loudness_lufs=-18.0,
            true_peak_dbtp=-2.0,
            head_seconds=0.25,
            tail_seconds=0.5,
            requirements=("−18 LUFS", "true peak ≤ −2 dBTP"),
            checks=qc.STANDARD,
        ),
        Profile(
            "acx",
            "ACX audiobook",
            loudness_lufs=-20.0,
            rms_dbfs=-20.0,
            # ACX reads peaks of the decoded MP3 at ≤ −3 dB; encoding adds up to about 0.5 dB
            true_peak_dbtp=-3.7,
            head_seconds=0.75,
            tail_seconds=2.0,
            room_tone_dbfs=-72.0,
            sample_rate=44_100,
            output_format="mp3",
            mp3_kbps=192,
            requirements=("RMS −23 to −18 dB", "peak ≤ −3 dB", "noise floor ≤ −60 dB", "44.1 kHz MP3 192 kbps CBR"),
            checks=qc.Requirements(
                "ACX audiobook",
                true_peak_dbtp=-3.0,
                rms_dbfs=(-23.0, -18.0),
                noise_floor_dbfs=-60.0,
                head_seconds=(0.5, 1.0),
                tail_seconds=(1.0, 5.0),
            ),
        ),
        Profile(
            "podcast",
            "Podcast",
            loudness_lufs=-16.0,
            true_peak_dbtp=-1.0,
            head_seconds=0.2,
            tail_seconds=0.5,
            requirements=("−16 LUFS", "true peak ≤ −1 dBTP"),
            checks=qc.Requirements("Podcast", true_peak_dbtp=-1.0, loudness_lufs=(-17.0, -15.0)),
        ),
        Profile(
            "raw",
            "Raw",
            loudness_lufs=None,
            true_peak_dbtp=None,
            text_pauses=False,
            requirements=("as the providers sent it, joined only",),
        ),
    )
}


@dataclass(frozen=True)
class Piece:
    """One passage as the provider sent it: 16-bit mono PCM at its own rate."""

    pcm: bytes
    sample_rate: int


@dataclass(frozen=True)
class Mastered:
    """The finished samples, where each passage lies in them, and what mastering did."""

    samples: np.ndarray
    """int16, mono."""
    sample_rate: int
    spans: list[tuple[int, int]]
    metadata: dict[str, Any]


def _float(piece: Piece, rate: int) -> np.ndarray:
    samples = np.frombuffer(piece.pcm, dtype="<i2").astype(np.float32) / 32768
    if piece.sample_rate != rate and samples.size:
        samples = soxr.resample(samples, piece.sample_rate, rate, quality="HQ").astype(np.float32)
    return samples


def _window_db(samples: np.ndarray, size: int) -> np.ndarray:
    count = samples.size // size
    framed = samples[: count * size].reshape(count, size)
    power = np.einsum("ij,ij->i", framed, framed) / size
    with np.errstate(divide="ignore"):
        levels: np.ndarray = 10 * np.log10(power)
    return levels


def trim(samples: np.ndarray, rate: int) -> tuple[np.ndarray, float, float]:
    """The passage without its edge silence (KEEP_SECONDS kept), and the seconds cut at each end.
    A passage with no sound at all is left as it is."""
    size = max(1, round(qc.WINDOW_SECONDS * rate))
    levels = _window_db(samples, size)
    audible = levels[np.isfinite(levels)]
    if audible.size == 0:
        return samples, 0.0, 0.0
    threshold = max(float(np.percentile(audible, 95)) - TRIM_BELOW_LU, qc.FLOOR_DB)
    loud = np.flatnonzero(levels > threshold)
    if loud.size == 0:
        return samples, 0.0, 0.0
    keep = round(KEEP_SECONDS * rate)
    start = max(0, int(loud[0]) * size - keep)
    end = min(samples.size, (int(loud[-1]) + 1) * size + keep)
    return samples[start:end], start / rate, (samples.size - end) / rate


def loudness(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness (BS.1770, gated) in LUFS; −inf for silence."""
    return _loudness_of(qc.k_weighted(samples, rate), rate)


def _loudness_of(weighted: np.ndarray, rate: int) -> float:
    """Loudness of K-weighted samples: gated, or for a piece under 0.4 s (no gating block) the
    ungated mean of its power; −inf for silence."""
    gated = qc.gated_loudness(weighted, rate)
    if gated is not None:
        return gated
    power = float(np.mean(np.square(weighted, dtype=np.float64))) if weighted.size else 0.0
    return -0.691 + 10 * math.log10(power) if power > 0 else SILENCE


def _fade(samples: np.ndarray, rate: int) -> np.ndarray:
    """Raised-cosine fade-in and fade-out (in place on a copy)."""
    n = min(round(FADE_SECONDS * rate), samples.size // 2)
    if n == 0:
        return samples
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n, dtype=np.float32))).astype(np.float32)
    faded = samples.copy()
    faded[:n] *= ramp
    faded[-n:] *= ramp[::-1]
    return faded


def _room_tone(count: int, level_dbfs: float | None, rng: np.random.Generator) -> np.ndarray:
    if level_dbfs is None or count == 0:
        return np.zeros(count, dtype=np.float32)
    noise = rng.standard_normal(count).astype(np.float32)
    # a gentle low-pass (two-tap mean) takes the hiss off white noise, as a quiet room sounds
    noise[1:] = 0.5 * (noise[1:] + noise[:-1])
    noise *= 10 ** (level_dbfs / 20) / max(float(np.sqrt(np.mean(np.square(noise)))), 1e-12)
    return noise


def ramped(steps: np.ndarray, size: int, ahead: int, total: int) -> np.ndarray:
    """`steps` (one gain per `size`-sample window) repeated to `total` samples and smoothed by a
    moving average of 2·ahead+1 samples (`uniform_filter1d`, mode "nearest"), averaged only near
    the windows where the gain changes: elsewhere the average of a constant is that constant, and
    on speech the gain changes at about one window in ten (averaging every sample of an hour was a
    third of mastering it)."""
    gain = np.repeat(steps, size)[:total]
    edges = (np.flatnonzero(steps[1:] != steps[:-1]) + 1) * size  # where a window's gain differs from the last
    if edges.size == 0:
        return gain
    # edges close enough that one's average reads samples another's rewrites are averaged together
    breaks = np.flatnonzero(np.diff(edges) > 4 * ahead + 2) + 1
    for first, last in zip(
        edges[np.r_[0, breaks]].tolist(), edges[np.r_[breaks - 1, edges.size - 1]].tolist(), strict=True
    ):
        low, high = max(0, first - ahead), min(total, last + ahead + 1)  # the samples that change
        start, stop = max(0, low - ahead), min(total, high + ahead)  # and what their averages read
        smoothed = uniform_filter1d(gain[start:stop], size=2 * ahead + 1, mode="nearest")
        gain[low:high] = smoothed[low - start : high - start]
    return gain


def limit(samples: np.ndarray, rate: int, ceiling_dbtp: float) -> float:
    """Bring the samples' true peaks to at most `ceiling_dbtp`, in place (an hour at 44.1 kHz is
    600 MB of float32: no copy of it is made); returns the deepest gain reduction (dB).

    True peaks are read per 10 ms window with the quality checks' own meter (`qc.peaks`), so what
    the limiter promises is what QC measures. Each window needs gain min(1, ceiling / its peak);
    a minimum filter spreads that need to the window before it and RELEASE after it, and a moving
    average of 2·LOOKAHEAD+1 samples (shorter than a window) turns the steps into ramps. Every
    sample the average covers lies within the minimum's reach of the window that needed it, so the
    smoothed gain never exceeds what any window needs: no overshoot, and no per-sample loop."""
    ceiling = 10 ** ((ceiling_dbtp - LIMITER_MARGIN_DB) / 20)
    size = max(1, round(qc.WINDOW_SECONDS * rate))
    need = np.minimum(1.0, ceiling / np.maximum(qc.peaks(samples, rate, reach=ceiling), 1e-12)).astype(np.float32)
    if need.size == 0 or float(need.min()) >= 1.0:
        return 0.0
    hold = math.ceil(RELEASE_SECONDS / qc.WINDOW_SECONDS)
    reach = hold + 3  # windows [w − 1 − hold, w + 1]: origin shifts scipy's centred window
    spread = minimum_filter1d(need, size=reach, origin=(reach - 1) // 2 - 1, mode="nearest")
    ahead = min(size - 1, max(1, round(LOOKAHEAD_SECONDS * rate)))
    samples *= ramped(spread, size, ahead, samples.size)
    reduction = -20 * math.log10(max(float(spread.min()), 1e-12))
    over = true_peak(samples, rate) - ceiling_dbtp
    if over > 0:  # the ramps' own sidebands, rarely a few hundredths of a dB: one static trim
        samples *= np.float32(10 ** (-(over + 0.01) / 20))
    return reduction


def true_peak(samples: np.ndarray, rate: int) -> float:
    """True peak in dBTP, as the quality checks read it."""
    window_peaks = qc.peaks(
        samples, rate, reach=max(float(samples.max()), -float(samples.min())) if samples.size else 0.0
    )
    peak = float(window_peaks.max()) if window_peaks.size else 0.0
    return 20 * math.log10(peak) if peak > 0 else qc.FLOOR_DB


def rms_dbfs(samples: np.ndarray) -> float:
    power = float(np.mean(np.square(samples, dtype=np.float64))) if samples.size else 0.0
    return 10 * math.log10(power) if power > 0 else SILENCE


def _gain(db: float) -> np.float32:
    return np.float32(10 ** (db / 20))


def _off_target(samples: np.ndarray, rate: int, profile: Profile, weighted: np.ndarray | None = None) -> float:
    """How many dB the whole narration is under its profile's target (RMS for ACX, else loudness)."""
    if profile.rms_dbfs is not None:
        level, target = rms_dbfs(samples), profile.rms_dbfs
    elif profile.loudness_lufs is not None:
        level = _loudness_of(qc.k_weighted(samples, rate) if weighted is None else weighted, rate)
        target = profile.loudness_lufs
    else:
        return 0.0
    return min(target - level, MAX_GAIN_DB) if math.isfinite(level) else 0.0


def _uneven(weighted: np.ndarray, rate: int, spans: list[tuple[int, int]]) -> list[float]:
    """The correction (dB) that brings each passage to the passages' median loudness; 0 for those
    already within EVEN_WITHIN_LU of it, or not measurable."""
    levels = [_loudness_of(weighted[a:b], rate) for a, b in spans]
    finite = [level for level in levels if math.isfinite(level)]
    if len(finite) < 2:
        return [0.0] * len(spans)
    middle = float(np.median(finite))
    return [middle - v if math.isfinite(v) and abs(middle - v) > EVEN_WITHIN_LU else 0.0 for v in levels]


def _finish(joined: np.ndarray, rate: int, spans: list[tuple[int, int]], profile: Profile) -> float:
    """Bring the joined narration to its target under its ceiling, in place; returns the deepest
    gain reduction.

    Limiting lowers loudness, and not evenly: speech with sharper peaks loses more (the local voice
    about 1.5 LU at −18 LUFS and −2 dBTP; passages drift a LU apart under ACX's limiting). So after
    each limiting pass the narration is measured once (one K-weighting, sliced per passage), the
    lost level made up, drifted passages brought back to the median, and it is limited again,
    until it is within ON_TARGET_DB of the target with every passage within EVEN_WITHIN_LU."""
    off = _off_target(joined, rate, profile)
    if abs(off) > ON_TARGET_DB:
        joined *= _gain(off)
    if profile.true_peak_dbtp is None:
        return 0.0
    reduction = 0.0
    for _ in range(ROUNDS):
        reduction = max(reduction, limit(joined, rate, profile.true_peak_dbtp))
        weighted = qc.k_weighted(joined, rate)
        off = _off_target(joined, rate, profile, weighted)
        fixes = _uneven(weighted, rate, spans) if profile.loudness_lufs is not None else []
        del weighted
        if abs(off) <= ON_TARGET_DB and not any(fixes):
            return reduction
        joined *= _gain(off)
        for (a, b), fix in zip(spans, fixes, strict=False):
            if fix:
                joined[a:b] *= _gain(fix)
    return max(reduction, limit(joined, rate, profile.true_peak_dbtp))  # the last changes, limited


def master(pieces: Sequence[Piece], pauses: Sequence[float], profile: Profile) -> Mastered:
    """Master passages (in order) joined by `pauses` (seconds after each passage but the last; the
    raw profile uses its fixed pause instead)."""
    if len(pauses) != max(0, len(pieces) - 1):
        raise ValueError(f"{len(pieces)} passages need {max(0, len(pieces) - 1)} pauses, not {len(pauses)}")
    rate = profile.sample_rate or max((p.sample_rate for p in pieces), default=24_000)
    rng = np.random.default_rng(ROOM_TONE_SEED)
    gaps = list(pauses) if profile.text_pauses else [PAUSE_SECONDS] * len(pauses)
    parts: list[np.ndarray] = [_room_tone(round(profile.head_seconds * rate), profile.room_tone_dbfs, rng)]
    spans: list[tuple[int, int]] = []
    gains: list[float | None] = []
    trimmed: list[list[float]] = []
    at = parts[0].size
    for index, piece in enumerate(pieces):
        samples = _float(piece, rate)
        if profile.loudness_lufs is not None:
            samples, head, tail = trim(samples, rate)
            trimmed.append([round(head, 3), round(tail, 3)])
            measured = loudness(samples, rate)
            gain = min(profile.loudness_lufs - measured, MAX_GAIN_DB) if math.isfinite(measured) else 0.0
            samples = _fade(samples * _gain(gain), rate)
            gains.append(round(gain, 2))
        parts.append(samples)
        spans.append((at, at + samples.size))
        at += samples.size
        if index < len(gaps):
            parts.append(_room_tone(round(gaps[index] * rate), profile.room_tone_dbfs, rng))
            at += parts[-1].size
    parts.append(_room_tone(round(profile.tail_seconds * rate), profile.room_tone_dbfs, rng))
    joined = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    reduction = _finish(joined, rate, spans, profile)
    samples16 = np.clip(np.round(joined * 32768), -32768, 32767).astype(np.int16)
    metadata: dict[str, Any] = {
        "profile": profile.name,
        "sample_rate": rate,
        "passage_starts": [round(start / rate, 3) for start, _ in spans],
        "pauses": [round(g, 3) for g in gaps],
        "head_seconds": profile.head_seconds,
        "tail_seconds": profile.tail_seconds,
        "limiter_max_reduction_db": round(reduction, 2),
    }
    if profile.loudness_lufs is not None:
        metadata |= {"loudness_target_lufs": profile.loudness_lufs, "passage_gains_db": gains, "trimmed": trimmed}
    return Mastered(samples16, rate, spans, metadata)


def profile_for(name: str | None, settings: Settings) -> Profile:
    """The narration's profile; None (every row the Django app writes) is the desk's default."""
    return PROFILES[name or settings.mastering_profile]


def master_passages(
    pcm: Sequence[bytes], rates: Sequence[int], texts: list[str], prompt: str, profile: Profile, settings: Settings
) -> Mastered:
    """`master` for a narration's passages, with the pauses its text calls for."""
    gaps = [pauses.seconds(kind, settings) for kind in pauses.breaks(prompt, texts)]
    return master([Piece(p, r) for p, r in zip(pcm, rates, strict=True)], gaps, profile)
