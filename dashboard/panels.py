"""Streamlit pieces the operations page (and the home summary) share: charts with their CSV,
the alerts banner, the live panels that refresh themselves, and storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.operations_view import live_tables
from dashboard.plain import csv_text, md
from db import live
from db.engine import new_session
from db.settings import get_settings
from workers.alerts import evaluate
from workers.health import Health, Storage, snapshot, storage
from workers.maintenance import run_maintenance
from workers.signin import SignedIn

LIVE_SECONDS = 10
STORAGE_TTL_SECONDS = 300
"""Walking MEDIA_ROOT and summing previews is the slow part of the live state: done every 5 min."""


def chart_with_csv(chart: Any, frame: pd.DataFrame, name: str) -> None:
    """The chart, and below it its data as a CSV download."""
    st.altair_chart(chart, width="stretch")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    st.download_button(
        f"Download {name} (CSV)", csv_text(frame), file_name=f"{name}-{stamp}.csv", mime="text/csv",
        key=f"csv-{name}", icon=":material/download:",
    )  # fmt: skip


def side_by_side(*charts: tuple[Any, pd.DataFrame, str]) -> None:
    """Charts in one row, each `(chart, its data, name)` with its CSV below it."""
    for column, (chart, frame, name) in zip(st.columns(len(charts)), charts, strict=True):
        with column:
            chart_with_csv(chart, frame, name)


@st.cache_data(ttl=STORAGE_TTL_SECONDS, show_spinner=False)
def cached_storage(media_root: str) -> Storage:
    """Storage use, recomputed at most every few minutes (keyed by the media root in force)."""
    return storage()


def _duration(delta: timedelta | None) -> str:
    if delta is None:
        return "nothing due"
    seconds = delta.total_seconds()
    return (
        f"{seconds:.0f} s"
        if seconds < 120
        else f"{seconds / 60:.0f} min"
        if seconds < 7200
        else f"{seconds / 3600:.1f} h"
    )


def show_alerts(health: Health) -> None:
    """Every alert that holds in `health`, as an error banner. The webhook hears of them from the
    minutely background check only (`dashboard/alert_watch.py`, the workers): a page render that
    posted would let any signed-in reader, reloading, drive outgoing requests."""
    settings = get_settings()
    for alert in evaluate(health, cached_storage(str(settings.media_path)), settings):
        st.error(md(alert.message), icon=":material/notification_important:")


@st.fragment(run_every=LIVE_SECONDS)
def live_panels() -> None:
    """Queue, workers and stuck jobs, re-read every few seconds without re-running the page."""
    settings = get_settings()
    health = snapshot(settings)
    show_alerts(health)
    tables = live_tables(health)
    due = sum(q.due for q in health.queues)
    later = sum(q.later for q in health.queues)
    a, b, c, d, e = st.columns(5)
    a.metric("Due jobs waiting", f"{due:,}")
    b.metric("Scheduled for later", f"{later:,}")
    c.metric("Oldest due job waiting", _duration(health.oldest_due_age))
    d.metric("Workers alive", health.workers_alive)
    e.metric("Stuck in processing", len(health.stuck))
    if health.rq.error:
        st.warning(md(health.rq.error))
    left, right = st.columns(2)
    left.caption("Queued rows per priority (PostgreSQL)")
    left.dataframe(tables.queues, hide_index=True, width="stretch")
    right.caption("RQ queues and registries (Redis)")
    right.dataframe(tables.rq_queues, hide_index=True, width="stretch")
    st.caption("Workers: heartbeats in PostgreSQL, and RQ's registrations")
    st.dataframe(tables.workers, hide_index=True, width="stretch")
    if not tables.stuck.empty:
        st.caption(f"Processing for longer than the job timeout ({settings.job_timeout_seconds} s)")
        st.dataframe(tables.stuck, hide_index=True, width="stretch")
    st.caption(f"Updated {health.checked_at:%H:%M:%S} UTC, every {LIVE_SECONDS} s.")


def storage_panel(user: SignedIn) -> None:
    """Bytes used against the quota, the last maintenance report, and (superusers) a run-now button."""
    settings = get_settings()
    used = cached_storage(str(settings.media_path))
    a, b, c = st.columns(3)
    a.metric("Audio under MEDIA_ROOT", f"{used.media_bytes / 1024**2:,.1f} MiB")
    b.metric("Quota used", f"{used.used_fraction:.1%}")
    c.metric("Base64 previews in the database", f"{used.preview_bytes / 1024**2:,.1f} MiB")
    st.progress(min(used.used_fraction, 1.0))
    with new_session() as session:
        last = live.last_maintenance(session)
    if last is None:
        st.caption("Maintenance has not run yet.")
    else:
        st.caption(f"Last maintenance: {last.finished_at:%Y-%m-%d %H:%M} UTC ({last.trigger})")
        st.json(last.report, expanded=False)
    if user.is_superuser and st.button("Run maintenance now", icon=":material/cleaning_services:"):
        with st.spinner("Running maintenance…"):
            report = run_maintenance("dashboard")
        cached_storage.clear()
        st.success(f"Maintenance done: {report['storage']['bytes_freed']:,} bytes freed.")
        st.json(report, expanded=False)
