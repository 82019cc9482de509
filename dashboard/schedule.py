"""The optional start time on compose, in the viewer's own time zone (the browser's), stored as UTC."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st


def viewer_zone() -> ZoneInfo:
    """The browser's time zone; UTC when the browser did not say or named one we do not know."""
    try:
        return ZoneInfo(st.context.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def start_time_input() -> datetime | None:
    """None to start as soon as a worker is free, or the aware time the person picked."""
    if not st.checkbox("Start later", key="start-later"):
        return None
    zone = viewer_zone()
    soon = datetime.now(zone) + timedelta(hours=1)
    left, right = st.columns(2)
    day = left.date_input("Start on", value=soon.date(), min_value=soon.date() - timedelta(days=1), key="start-day")
    at = right.time_input("at", value=soon.time().replace(second=0, microsecond=0), key="start-time")
    when = datetime.combine(day, at, tzinfo=zone)
    st.caption(f"Times are in {zone.key}. A worker starts it at {when:%Y-%m-%d %H:%M %Z}.")
    return when
