"""The operations page's Altair charts, built from the frames in `operations_view`.

Times are handed to Vega-Lite as wall-clock times of the display zone without an offset: the
browser then shows them as they are, instead of converting them into its own zone.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from db.models import CANCELLED

STATUS_COLOURS = alt.Scale(
    domain=["completed", "failed", CANCELLED, "processing", "queued"],
    range=["#2e7d32", "#c62828", "#ef6c00", "#1565c0", "#9e9e9e"],
)
"""The badges' colours (dashboard/labels.py BADGES): cancelled is orange, apart from failed's red."""
HEIGHT = 260


def _wall_clock(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    shown = frame.copy()
    if not shown.empty:
        shown[column] = shown[column].dt.tz_localize(None)
    return shown


def _jobs_over_time(frame: pd.DataFrame, title: str, color: alt.Color, by: str) -> alt.Chart:
    """Jobs per bucket as stacked bars, split by `by`."""
    chart: alt.Chart = (
        alt.Chart(_wall_clock(frame, "bucket"), height=HEIGHT, title=title)
        .mark_bar()
        .encode(
            x=alt.X("bucket:T", title=None),
            y=alt.Y("sum(jobs):Q", title="jobs"),
            color=color,
            tooltip=["bucket:T", f"{by}:N", "jobs:Q"],
        )
    )
    return chart


def status_over_time(frame: pd.DataFrame) -> alt.Chart:
    return _jobs_over_time(frame, "Jobs by status", alt.Color("status:N", scale=STATUS_COLOURS), "status")


def providers_over_time(frame: pd.DataFrame) -> alt.Chart:
    return _jobs_over_time(frame, "Jobs by provider", alt.Color("provider:N"), "provider")


FAILURE_RATE_TITLE = "Failure rate, by when jobs finished (cancels not counted)"
"""`monitoring.failure_share` in a few words: the chart must not let anyone read it by creation time."""


def failure_rate(frame: pd.DataFrame) -> alt.Chart:
    chart: alt.Chart = (
        alt.Chart(_wall_clock(frame, "bucket"), height=HEIGHT, title=FAILURE_RATE_TITLE)
        .mark_line(point=True)
        .encode(
            x=alt.X("bucket:T", title=None),
            # "4.2 %", as `labels.percent` writes it everywhere else
            y=alt.Y("rate:Q", title="failed", axis=alt.Axis(labelExpr="format(datum.value * 100, '.0f') + ' %'")),
            color=alt.Color("provider:N"),
            tooltip=["bucket:T", "provider:N", "failed:Q", "finished:Q", alt.Tooltip("share:N", title="rate")],
        )
    )
    return chart


def latency(frame: pd.DataFrame) -> alt.Chart:
    chart: alt.Chart = (
        alt.Chart(frame.dropna(subset=["seconds"]), height=HEIGHT, title="Latency (s): p50 and p95")
        .mark_bar()
        .encode(
            x=alt.X("provider:N", title=None),
            xOffset="percentile:N",
            y=alt.Y("seconds:Q"),
            color=alt.Color("percentile:N"),
            column=alt.Column("stage:N", title=None),
            tooltip=["provider:N", "stage:N", "percentile:N", alt.Tooltip("seconds:Q", format=".1f"), "jobs:Q"],
        )
    )
    return chart


def cost_per_day(frame: pd.DataFrame) -> alt.Chart:
    chart: alt.Chart = (
        alt.Chart(_wall_clock(frame, "day"), height=HEIGHT, title="Estimated cost per day (USD)")
        .mark_bar()
        .encode(
            x=alt.X("day:T", title=None, timeUnit="yearmonthdate"),
            y=alt.Y("sum(usd):Q", title="USD"),
            color=alt.Color("provider:N"),
            tooltip=["day:T", "provider:N", "characters:Q", alt.Tooltip("usd:Q", format="$.2f")],
        )
    )
    return chart


def audio_hours(frame: pd.DataFrame) -> alt.Chart:
    chart: alt.Chart = (
        alt.Chart(_wall_clock(frame, "day"), height=HEIGHT, title="Audio produced per day (hours)")
        .mark_bar(color="#6a1b9a")
        .encode(
            x=alt.X("day:T", title=None, timeUnit="yearmonthdate"),
            y=alt.Y("hours:Q"),
            tooltip=["day:T", alt.Tooltip("hours:Q", format=".2f")],
        )
    )
    return chart
