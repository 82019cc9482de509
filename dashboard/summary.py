"""A compact strip for the home page: the last 24 hours in four numbers with their verdicts, and the alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard.headlines import summary_headlines
from dashboard.labels import display_zone
from dashboard.panels import shared_snapshot, show_alerts, show_headlines
from db.engine import new_session
from db.monitoring import HistoryFilters, failures, status_over_time
from db.settings import get_settings
from db.window import Window


def summary_strip() -> None:
    """Jobs and failure rate over the last 24 hours (a cancel is no failure), due jobs now, workers
    alive; then any alert."""
    window = Window.last(timedelta(days=1), now=datetime.now(UTC), tz=display_zone().key)
    with new_session() as session:
        buckets = status_over_time(session, window, HistoryFilters())
        finished = failures(session, window, HistoryFilters())
    health = shared_snapshot()
    show_headlines(summary_headlines(buckets, finished, health, get_settings()))
    show_alerts(health)  # the same snapshot: one read of the live state per run
