"""True peak (BS.1770-4 Annex 2: 4× oversampling) of a narration and its passages, oversampling only
the few 10 ms windows that could hold a maximum.

Oversampling an hour of audio took 2–4 s, most of the quality checks' time, yet a figure is only ever
the maximum over a narration or a passage: a window whose samples (and its neighbours') stay far
below the piece's highest sample cannot hold its true peak. How far is `MARGIN_DB`. Each candidate
window is oversampled with `CONTEXT` samples of real signal on both sides, so it reads what
oversampling the whole signal reads, to within 1e-7 of full scale (−140 dBFS; `tests/test_qc.py`
checks the figures against the whole signal oversampled, on the local voice and on white noise).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import soxr

OVERSAMPLING = 4
"""BS.1770-4 Annex 2: 4× oversampling finds inter-sample peaks to within about 0.5 dB at 48 kHz."""

OVERSAMPLER_QUALITY = "MQ"
"""soxr's medium quality: on speech-like noise within 0.02 dB of its high quality, and +3.01 dB on the
fs/4 test signal like it, in half the time. BS.1770-4's own interpolator is a 48-tap FIR, no sharper
than this; soxr's low quality cuts too much treble (−0.9 dB)."""

MARGIN_DB = 6.0
"""A window is oversampled when the highest sample of it and its two neighbours is within 6 dB of
the highest sample of a narration or passage it belongs to. For band-limited content the classic
worst case is +3.01 dB (a full-scale sine at fs/4, 45° out of phase), but it is not a bound: in
white noise at 22.05 kHz, 10 ms windows reached true peaks 4.8 dB over their own samples, and a
3.1 dB margin misread half-second stretches of 10 min of it by up to 0.57 dB (4 dB read them
exactly). 6 dB keeps that measured need plus 2 dB, and costs little on speech: 8 % of the
benchmark's hour and 10–15 % of the local voice's windows come this close to their passage's top."""

CONTEXT = 128
"""Samples of real signal on each side of a run of candidate windows: soxr MQ's 4× filter then sees
what it sees on the whole signal (32 samples of context misread by 3e-4, 128 by 1e-7 of full scale)."""

BATCH_SAMPLES = 1 << 20
"""Candidate runs are oversampled together, about a million input samples at a time (16 MB of
output), so one call serves many runs and an all-candidate hour never sits oversampled in memory."""


def window_maxima(values: np.ndarray, size: int) -> np.ndarray:
    """The highest of `values` in each `size`-long window, the last one possibly shorter."""
    return np.maximum.reduceat(values, np.arange(0, values.size, size)) if values.size else values[:0]


def absolute_maxima(samples: np.ndarray, size: int) -> np.ndarray:
    """The highest absolute sample of each `size`-long window, a batch at a time (no absolute copy
    of a whole hour)."""
    step = size * max(1, BATCH_SAMPLES // size)
    parts = [window_maxima(np.abs(samples[begin : begin + step]), size) for begin in range(0, samples.size, step)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def tops(sample_peaks: np.ndarray, pieces: Sequence[tuple[int, int]]) -> np.ndarray:
    """For each window, the highest sample of the tightest of `pieces` (window ranges, the
    narration's included) that holds it: what its true peak must come near to matter."""
    top = np.full(sample_peaks.size, np.inf, dtype=np.float32)
    for first, last in pieces:
        if first < last:
            np.minimum(top[first:last], sample_peaks[first:last].max(), out=top[first:last])
    return top


def candidates(sample_peaks: np.ndarray, reach: np.ndarray | float) -> np.ndarray:
    """Which windows could have a true peak at or over `reach` (per window, or one for all): those
    whose highest sample, or a neighbour's, is within MARGIN_DB of it."""
    neighbours = sample_peaks.copy()
    np.maximum(neighbours[1:], sample_peaks[:-1], out=neighbours[1:])
    np.maximum(neighbours[:-1], sample_peaks[1:], out=neighbours[:-1])
    chosen: np.ndarray = neighbours >= np.multiply(reach, 10 ** (-MARGIN_DB / 20), dtype=np.float32)
    return chosen


Read = Callable[[int, int], np.ndarray]
"""`read(begin, end)`: the signal's samples from `begin` to `end` as float32, as QC sees them."""


def window_peaks(
    read: Read, total: int, rate: int, size: int, sample_peaks: np.ndarray, reach: np.ndarray | float
) -> np.ndarray:
    """Each `size`-sample window's peak in a signal of `total` samples: its true peak where it could
    reach `reach` (`tops` for the maxima of pieces; 0 for every window), its sample peak elsewhere
    (there the true peak is below `reach`, so a maximum or a ceiling reads the same). `sample_peaks`
    holds each window's highest absolute sample."""
    peaks = sample_peaks.copy()
    chosen = np.flatnonzero(candidates(sample_peaks, reach))
    if chosen.size == 0:
        return peaks
    # runs of consecutive candidates, joined when their contexts would overlap anyway, and cut to
    # at most a batch each
    breaks = np.flatnonzero(np.diff(chosen) * size > 2 * CONTEXT + size) + 1
    firsts, lasts = chosen[np.r_[0, breaks]], chosen[np.r_[breaks - 1, chosen.size - 1]] + 1
    longest = max(1, BATCH_SAMPLES // size)
    batch: list[tuple[int, int]] = []
    held = 0
    for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True):
        for part in range(first, last, longest):
            batch.append((part, min(last, part + longest)))
            held += (batch[-1][1] - part) * size + 2 * CONTEXT
            if held >= BATCH_SAMPLES:
                _oversample(read, total, rate, size, batch, peaks)
                batch, held = [], 0
    if batch:
        _oversample(read, total, rate, size, batch, peaks)
    return peaks


def _oversample(read: Read, total: int, rate: int, size: int, runs: list[tuple[int, int]], peaks: np.ndarray) -> None:
    """Oversample `runs` of windows in one call, each with its context, and write their true peaks
    (one reduction over the whole batch, cut at each window and where each run's windows end)."""
    firsts, lasts = np.array(runs, dtype=np.int64).T
    begins = np.maximum(0, firsts * size - CONTEXT)
    ends = np.minimum(total, lasts * size + CONTEXT)
    joined = np.concatenate([read(begin, end) for begin, end in zip(begins.tolist(), ends.tolist(), strict=True)])
    loud = soxr.resample(joined, rate, rate * OVERSAMPLING, quality=OVERSAMPLER_QUALITY)
    np.abs(loud, out=loud)
    offsets = np.cumsum(ends - begins) - (ends - begins)  # where each run's segment starts in `joined`
    counts = lasts - firsts
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)  # window's place in its run
    windows = np.repeat(firsts, counts) + within
    starts = np.repeat(offsets - begins, counts) + windows * size
    stops = offsets + np.minimum(lasts * size, total) - begins  # each run's last window ends here
    cuts = np.concatenate((starts, stops))
    order = np.argsort(cuts, kind="stable")
    if cuts[order[-1]] * OVERSAMPLING >= loud.size:  # the signal's end: nothing after the last window
        order = order[:-1]
    keep = order < starts.size  # the reductions that are windows, not the stretch after a run
    maxima = np.maximum.reduceat(loud, cuts[order] * OVERSAMPLING)
    peaks[windows[order[keep]]] = maxima[keep]
