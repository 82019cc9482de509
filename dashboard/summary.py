"""A compact strip for the home page: the last 24 hours in four numbers with their verdicts, and the alerts."""

from __future__ import annotations

from dashboard.headlines import summary_headlines
from dashboard.labels import display_zone
from dashboard.panels import shared_snapshot, show_alerts, show_headlines
from dashboard.shared_history import last_day
from db.settings import get_settings


def summary_strip() -> None:
    """Jobs and failure rate over the last 24 hours (a cancel is no failure), due jobs now, workers
    alive; then any alert."""
    buckets, finished = last_day(display_zone().key)
    health = shared_snapshot()
    show_headlines(summary_headlines(buckets, finished, health, get_settings()))
    show_alerts(health)  # the same snapshot: one read of the live state per run
