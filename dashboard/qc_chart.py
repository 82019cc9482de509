"""The narration page's per-passage quality chart: loudness and speaking rate by passage, flagged
passages marked, and which passage a click on it picked.

Built from `audio_metadata["qc"]` (workers/engine/qc.py writes it), which the Django app or anyone with SQL
can also write: every value is checked for the type it should have and anything else reads as not
measured, so an odd row draws a chart with gaps instead of failing the page. No Streamlit here:
tests read the chart's data and the picked passage directly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd

from dashboard import labels

PICK = "passage_pick"
"""The chart's selection: Streamlit hands back the passage numbers picked under this name."""

FLAGGED_COLOUR = "#c62828"
"""The failed badge's red (dashboard/charts.py): a flagged passage reads as a problem at a glance."""
FINE_COLOUR = "#1565c0"

MEASURES = (("loudness_lufs", "loudness (LUFS)"), ("speaking_rate_cps", "speaking rate (chars/s)"))
"""What the chart draws, one panel each: the two figures the flags are mostly about."""

HEIGHT = 150
WIDTH = 620
"""Pixels per panel: a faceted chart does not stretch to its container, and 620 plus the axes fits the
page's main column at 1280 px."""


@dataclass(frozen=True)
class PassagePoint:
    """One passage's figures as the chart draws them."""

    passage: int
    """Numbered from 1, as the Passages table numbers them."""
    loudness_lufs: float | None
    speaking_rate_cps: float | None
    flags: tuple[str, ...]
    starts_at: float | None
    """Where it begins in the full file (`dashboard.views.starts`), None while unknown."""


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def points(metadata: Mapping[str, Any], starts: Sequence[float | None]) -> list[PassagePoint]:
    """The measured passages of this narration, in order; [] when it has no checks to read. A passage
    entry is kept only if its index names one of the narration's passages (`starts`), once."""
    measured = metadata.get("qc")
    entries = measured.get("passages") if isinstance(measured, dict) else None
    if not isinstance(entries, list):
        return []
    found: dict[int, PassagePoint] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        index = entry.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(starts) or index in found:
            continue
        flags = entry.get("flags")
        found[index] = PassagePoint(
            passage=index + 1,
            loudness_lufs=_number(entry.get("loudness_lufs")),
            speaking_rate_cps=_number(entry.get("speaking_rate_cps")),
            flags=tuple(f for f in flags if isinstance(f, str)) if isinstance(flags, list) else (),
            starts_at=starts[index],
        )
    return [found[i] for i in sorted(found)]


def frame(passages: Sequence[PassagePoint]) -> pd.DataFrame:
    """One line per passage and measure: what the chart draws and its tooltips say."""
    return pd.DataFrame(
        [
            {
                "passage": p.passage,
                "measure": title,
                "value": getattr(p, key),
                "state": "flagged" if p.flags else "fine",
                "flags": "; ".join(p.flags) or "none",
                "starts at": labels.length(p.starts_at),
            }
            for p in passages
            for key, title in MEASURES
        ],
        columns=["passage", "measure", "value", "state", "flags", "starts at"],
    )


def chart(passages: Sequence[PassagePoint]) -> alt.FacetChart:
    """Loudness above speaking rate (one panel each, own scale), passage by passage; flagged passages
    red diamonds with their flags in the tooltip. A click on a point picks that passage (PICK)."""
    pick = alt.selection_point(name=PICK, fields=["passage"], on="click", clear="dblclick")
    state = alt.Scale(domain=["fine", "flagged"], range=[FINE_COLOUR, FLAGGED_COLOUR])
    x = alt.X("passage:Q", title="passage", axis=alt.Axis(tickMinStep=1, format="d"))
    y = alt.Y("value:Q", title=None, scale=alt.Scale(zero=False), axis=alt.Axis(format=",.1~f"))
    line = alt.Chart().mark_line(color="#9e9e9e", strokeWidth=1).encode(x=x, y=y)
    dots = (
        alt.Chart()
        .mark_point(filled=True, size=90)
        .encode(
            x=x,
            y=y,
            color=alt.Color("state:N", scale=state, legend=alt.Legend(title=None, orient="top")),
            shape=alt.Shape("state:N", scale=alt.Scale(domain=["fine", "flagged"], range=["circle", "diamond"])),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.45)),
            tooltip=["passage:Q", "measure:N", "value:Q", "starts at:N", "flags:N"],
        )
        .add_params(pick)
    )
    whole: alt.FacetChart = (
        alt.layer(line, dots, data=frame(passages), height=HEIGHT, width=WIDTH)
        .facet(row=alt.Row("measure:N", title=None, sort=[title for _, title in MEASURES]))
        .resolve_scale(y="independent")
    )
    return whole


def picked(selection: Mapping[str, Any]) -> int | None:
    """The passage (from 1) a click picked, from the selection Streamlit returns; None when none."""
    chosen = selection.get(PICK)
    if not isinstance(chosen, list) or not chosen or not isinstance(chosen[0], dict):
        return None
    number = chosen[0].get("passage")
    return int(number) if isinstance(number, int | float) and not isinstance(number, bool) else None
