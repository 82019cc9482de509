"""The optional start time on compose, in the zone every page shows times in
(`labels.display_zone`), stored as UTC: the line's "waits until" then reads back what was picked."""

from __future__ import annotations

from datetime import datetime, timedelta

import streamlit as st

from dashboard.labels import display_zone


def start_time_input() -> datetime | None:
    """None to start as soon as a worker is free, or the aware time the person picked."""
    if not st.checkbox("Start later", key="start-later"):
        return None
    zone = display_zone()
    soon = datetime.now(zone) + timedelta(hours=1)
    left, right = st.columns(2)
    day = left.date_input("Start on", value=soon.date(), min_value=soon.date() - timedelta(days=1), key="start-day")
    at = right.time_input("at", value=soon.time().replace(second=0, microsecond=0), key="start-time")
    when = datetime.combine(day, at, tzinfo=zone)
    st.caption(f"Times are in {zone.key}. A worker starts it at {when:%Y-%m-%d %H:%M %Z}.")
    return when
