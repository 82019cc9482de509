"""A compact strip for the home page: the last 24 hours in four numbers, and the alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard.labels import display_zone
from dashboard.panels import show_alerts
from db.engine import new_session
from db.monitoring import Filters, status_over_time
from db.window import Window
from workers.health import snapshot


def summary_strip() -> None:
    """Jobs and failure rate over the last 24 hours, due jobs now, workers alive; then any alert."""
    window = Window.last(timedelta(days=1), now=datetime.now(UTC), tz=display_zone().key)
    with new_session() as session:
        buckets = status_over_time(session, window, Filters())
    health = snapshot()
    jobs = sum(b.queued + b.processing + b.completed + b.failed for b in buckets)
    failed = sum(b.failed for b in buckets)
    finished = failed + sum(b.completed for b in buckets)
    a, b, c, d = st.columns(4)
    a.metric("Jobs, last 24 h", f"{jobs:,}")
    b.metric("Failed, last 24 h", f"{failed / finished:.1%}" if finished else "–")
    c.metric("Due jobs waiting", f"{sum(q.due for q in health.queues):,}")
    d.metric("Workers alive", health.workers_alive)
    show_alerts(health)  # the same snapshot: one read of the live state per run
