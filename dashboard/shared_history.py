"""The operations page's history, read and charted once for every session that asks for the same view.

With 25 staff sessions open, each visit to Operations ran eight history queries and built six Altair
charts and their CSVs, all in the one dashboard process: under load (`bench/dashboard_load.py`) the
page took seconds, not because any piece is slow (0.2 s alone) but because every session repeated
it, and pandas, pyarrow, psycopg and Redis each give the interpreter lock up and wait to get it back
many times a run. The history changes slowly and everyone looking at "the last 24 hours, any
provider" sees the same numbers, so one read serves them all for SHARED_SECONDS; so does the
library's strip of the last 24 hours. The live panels above the charts are not part of this; they
keep their own few seconds (`panels.shared_snapshot`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.operations_view import Panels, load_panels
from dashboard.plain import csv_text
from db.engine import new_session
from db.monitoring import Failures, HistoryFilters, StatusCount, failures, status_over_time
from db.settings import get_settings
from db.window import Window

SHARED_SECONDS = 10
"""How long one read of a view serves every session: the charts are at most this old."""


@dataclass(frozen=True)
class Chart:
    """One chart as the page draws it: the Altair chart, its data's CSV, and the CSV's name."""

    name: str
    chart: alt.Chart
    csv: str


@dataclass(frozen=True)
class History:
    panels: Panels
    status: Chart
    providers: Chart
    failure_rate: Chart
    latency: Chart
    cost: Chart
    audio: Chart


def settings_key() -> str:
    """What every shared read is keyed by besides its own arguments: the settings in force (the
    stores, the budget, the alert windows), so settings that change, in a test or at a reload, are
    never answered from a read made under others. Streamlit hashes it; it is never kept or shown
    (and keys are `SecretStr`, dumped as stars)."""
    return get_settings().model_dump_json()


def now() -> datetime:
    """The end of the current SHARED_SECONDS slot, the "now" every session in it computes its window
    from: windows are then equal, and so are the keys of their shared read. Rounded up, not down, so
    that a job made a moment ago is inside the window rather than after it."""
    slot = math.ceil(datetime.now(UTC).timestamp() / SHARED_SECONDS) * SHARED_SECONDS
    return datetime.fromtimestamp(slot, UTC)


def history(window: Window, filters: HistoryFilters, now: datetime) -> History:
    """The panels and charts of `window` under `filters` (and the month to `now`, this module's
    `now()`), shared with every session in this process asking for the same within SHARED_SECONDS
    under the same `settings_key`."""
    return _history(window, filters, now, settings_key())


@st.cache_resource(ttl=SHARED_SECONDS, max_entries=32, show_spinner=False)
def _history(window: Window, filters: HistoryFilters, now: datetime, settings_json: str) -> History:
    """Shared, not copied per session: nothing changes a History once drawn."""
    panels = load_panels(window, filters, now=now)

    def drawn(name: str, chart: alt.Chart, frame: pd.DataFrame) -> Chart:
        return Chart(name, chart, csv_text(frame))

    return History(
        panels=panels,
        status=drawn("jobs-by-status", charts.status_over_time(panels.status), panels.status),
        providers=drawn("jobs-by-provider", charts.providers_over_time(panels.providers), panels.providers),
        failure_rate=drawn("failure-rate", charts.failure_rate(panels.failure_rate), panels.failure_rate),
        latency=drawn("latency", charts.latency(panels.latency), panels.latency),
        cost=drawn("cost-per-day", charts.cost_per_day(panels.costs), panels.costs),
        audio=drawn("audio-hours", charts.audio_hours(panels.audio), panels.audio),
    )


def last_day(tz: str) -> tuple[list[StatusCount], list[Failures]]:
    """The library strip's last 24 hours: jobs by status and the finishes per provider, shared as `history`."""
    return _last_day(Window.last(timedelta(days=1), now=now(), tz=tz), settings_key())


@st.cache_resource(ttl=SHARED_SECONDS, max_entries=32, show_spinner=False)
def _last_day(window: Window, settings_json: str) -> tuple[list[StatusCount], list[Failures]]:
    with new_session() as session:
        return status_over_time(session, window, HistoryFilters()), failures(session, window, HistoryFilters())
