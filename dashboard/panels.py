"""Streamlit pieces the operations page (and the home summary) share: charts with their CSV,
the alerts banner, the live panels that refresh themselves, and storage."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import streamlit as st

from dashboard import links
from dashboard.headlines import Headline, live_headlines, storage_headlines
from dashboard.labels import display_zone, when
from dashboard.operations_view import live_tables, maintenance_details, maintenance_table, running
from dashboard.plain import md
from dashboard.shared_history import Chart, settings_key
from db import live
from db.engine import new_session
from db.settings import get_settings
from workers.engine.store import media_store
from workers.operations.alerts import evaluate
from workers.operations.health import Health, Storage, snapshot, storage
from workers.operations.maintenance import run_maintenance
from workers.operations.verdicts import Verdict
from workers.service.roles import SignedIn

LIVE_SECONDS = 10
SHARED_SNAPSHOT_SECONDS = 2
"""How long one read of the live state serves every open page (`shared_snapshot`)."""
STORAGE_TTL_SECONDS = 300
"""Walking MEDIA_ROOT (or listing the bucket) and summing previews is the slow part: done every 5 min."""


def chart_with_csv(chart: Chart) -> None:
    """The chart, and below it its data as a CSV download."""
    st.altair_chart(chart.chart, width="stretch")
    stamp = datetime.now(display_zone()).strftime("%Y%m%d-%H%M")  # the clock the page shows
    st.download_button(
        f"Download {chart.name} (CSV)", chart.csv, file_name=f"{chart.name}-{stamp}.csv", mime="text/csv",
        key=f"csv-{chart.name}", icon=":material/download:",
    )  # fmt: skip


@st.cache_resource(ttl=SHARED_SNAPSHOT_SECONDS, max_entries=4, show_spinner=False)
def _snapshot(settings_json: str) -> Health:
    return snapshot()


def shared_snapshot() -> Health:
    """The live state (queues, workers, RQ, stuck jobs), read once for every page open in this process
    and kept SHARED_SNAPSHOT_SECONDS: each read is seven queries and a dozen Redis calls, and with 25
    sessions open their summary strips and live panels asked for it several times a second. Pages
    show `checked_at`, so a shared read says how old it is. Keyed by `settings_key`. Not copied per
    use: nothing changes a Health once read."""
    return _snapshot(settings_key())


def side_by_side(*charts: Chart) -> None:
    """Charts in one row, each with its CSV below it."""
    for column, chart in zip(st.columns(len(charts)), charts, strict=True):
        with column:
            chart_with_csv(chart)


@st.cache_data(ttl=STORAGE_TTL_SECONDS, show_spinner=False)
def cached_storage(where: str) -> Storage:
    """Storage use, recomputed at most every few minutes (keyed by the media folder or bucket in force)."""
    return storage()


VERDICT_COLOURS: dict[Verdict, Literal["green", "orange", "red"]] = {
    Verdict.HEALTHY: "green",
    Verdict.WATCH: "orange",
    Verdict.ACT: "red",
}


def show_headlines(headlines: list[Headline]) -> None:
    """One metric per headline in a row, its verdict as a coloured note under the number."""
    for column, headline in zip(st.columns(len(headlines)), headlines, strict=True):
        verdict = headline.verdict
        column.metric(
            headline.label, headline.value, delta=verdict and str(verdict),
            delta_color=VERDICT_COLOURS[verdict] if verdict else "normal", delta_arrow="off", help=headline.rule,
        )  # fmt: skip


def show_alerts(health: Health) -> None:
    """Every alert that holds in `health`, as an error banner. The webhook hears of them from the
    minutely background check only (`dashboard/alert_watch.py`, the workers): a page render that
    posted would let any signed-in reader, reloading, drive outgoing requests."""
    settings = get_settings()
    for alert in evaluate(health, cached_storage(media_store().where), settings):
        st.error(md(alert.message), icon=":material/notification_important:")


@st.fragment(run_every=LIVE_SECONDS)
def live_panels() -> None:
    """Queue, workers and stuck jobs, re-read every few seconds without re-running the page."""
    settings = get_settings()
    health = shared_snapshot()
    show_alerts(health)
    zone = display_zone()
    tables = live_tables(health, zone)
    show_headlines(live_headlines(health, settings))
    if health.rq.error:
        st.warning(md(health.rq.error))
    left, right = st.columns(2)
    left.caption("Queued rows per priority (PostgreSQL)")
    left.dataframe(tables.queues, hide_index=True, width="stretch")
    right.caption("RQ queues and registries (Redis)")
    right.dataframe(tables.rq_queues, hide_index=True, width="stretch")
    st.caption("Workers: heartbeats in PostgreSQL, and RQ's registrations")
    st.dataframe(tables.workers, hide_index=True, width="stretch")
    for job in running(health):
        st.page_link(
            links.PAGE, label=f"{md(job.worker)} is narrating {job.label}", icon=":material/graphic_eq:",
            query_params=links.params(job.kind, job.id),
        )  # fmt: skip
    if not tables.stuck.empty:
        st.caption(f"Processing for longer than the job timeout ({settings.job_timeout_seconds} s)")
        st.dataframe(tables.stuck, hide_index=True, width="stretch")
    local = health.checked_at.astimezone(zone)
    st.caption(f"Updated {local:%H:%M:%S} {local.tzname()}, every {LIVE_SECONDS} s.")


def storage_panel(user: SignedIn) -> None:
    """Bytes used against the quota, the last maintenance report, and (superusers) a run-now button."""
    settings = get_settings()
    used = cached_storage(media_store().where)
    show_headlines(storage_headlines(used, settings))
    st.progress(min(used.used_fraction, 1.0))
    with new_session() as session:
        last = live.last_maintenance(session)
    if last is None:
        st.caption("Maintenance has not run yet.")
    else:
        st.caption(f"Last maintenance: {when(last.finished_at, display_zone())} ({last.trigger})")
        maintenance_report(last.report)
    if user.is_superuser and st.button("Run maintenance now", icon=":material/cleaning_services:"):
        with st.spinner("Running maintenance…"):
            report = run_maintenance("dashboard")
        cached_storage.clear()
        freed = (report.get("storage") or {}).get("bytes_freed", 0)
        st.success(f"Maintenance done: {freed / 1024**2:,.1f} MiB freed.")
        maintenance_report(report)


def maintenance_report(report: dict[str, Any]) -> None:
    """What a maintenance run did, as a table of counts; the rows and paths behind them as text."""
    st.dataframe(maintenance_table(report), hide_index=True)
    details = maintenance_details(report)
    if details:
        with st.expander(f"Details ({len(details)})"):
            st.text("\n".join(details))
