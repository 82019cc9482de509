"""Operations: history by status, provider, failures, latency, cost and audio; live queue and workers; storage."""

from datetime import timedelta

import streamlit as st

from dashboard import links, shared_history
from dashboard.headlines import Headline, budget_headline
from dashboard.labels import TIME_ZONES, display_zone, when
from dashboard.operations_view import EVENTS_SHOWN, RANGES, alert_history, event_list
from dashboard.panels import live_panels, show_headlines, side_by_side, storage_panel
from dashboard.plain import md
from dashboard.session import require
from db import events, monitoring
from db.engine import new_session
from db.narrations import projects
from db.settings import get_settings
from db.window import Window, zone
from workers.engine.budget import this_month
from workers.engine.catalogue import CATALOGUE

user = require()
st.title("Operations")
live_panels()  # alerts first, then the queue and workers, refreshed every few seconds
st.divider()

choice = st.segmented_control("Range", [*RANGES, "Custom"], default="Last 24 hours", required=True)
middle, right = st.columns(2)
shown_zone = display_zone().key  # DISPLAY_TIME_ZONE, or the browser's
tz = middle.selectbox(
    "Time zone", TIME_ZONES, index=TIME_ZONES.index(shown_zone if shown_zone in TIME_ZONES else "UTC")
)
now = shared_history.now()  # the same for every session in the next few seconds: they share one read
if choice == "Custom":
    today = now.astimezone(zone(tz)).date()
    days = right.date_input("Days", value=(today - timedelta(days=6), today), format="YYYY-MM-DD")
    if not isinstance(days, tuple) or len(days) != 2:
        st.info("Pick the first and the last day.")
        st.stop()
    window = Window.calendar_days(days[0], days[1], tz)
else:
    window = Window.last(RANGES[str(choice)], now=now, tz=tz)

with new_session() as session:
    project_names = {p.id: p.name for p in projects(session)}
a, b, c = st.columns(3)
provider = a.selectbox("Provider", [None, *(p.id.value for p in CATALOGUE)], format_func=lambda p: p or "any provider")
models = [m.id for p in CATALOGUE if provider in (None, p.id.value) for m in p.models]
model = b.selectbox("Model", [None, *models], format_func=lambda m: m or "any model")
project = c.selectbox(
    "Project", [None, *project_names], format_func=lambda p: "any project" if p is None else project_names[p]
)
filters = monitoring.HistoryFilters(provider=provider, model=model, project_id=project)

history = shared_history.history(window, filters, now)
panels = history.panels
st.caption(
    f"{window.start.astimezone(zone(tz)):%Y-%m-%d %H:%M} to "
    f"{window.end.astimezone(zone(tz)):%Y-%m-%d %H:%M} ({tz}), "
    f"one bar per {window.bucket}; jobs count where they were created."
)
side_by_side(history.status, history.providers)
side_by_side(history.failure_rate, history.latency)

st.subheader("Alerts in this range")
alerts = alert_history(window)
if alerts.empty:
    st.caption("No alert held in this range (as checked once a minute by a worker or dashboard).")
else:
    st.dataframe(alerts, hide_index=True, width="stretch")

st.subheader("Top errors")
if panels.errors.empty:
    st.caption("No failed job in this range.")
else:
    st.dataframe(panels.errors, hide_index=True, width="stretch")
    picked = st.selectbox("Show the jobs that failed with", panels.errors["message"].tolist())
    with new_session() as session:
        jobs = monitoring.jobs_with_error(session, window, filters, str(picked))
    st.dataframe(
        [
            {
                "open": links.url(j.kind, j.id),
                "kind": j.kind,
                "id": j.id,
                "provider": j.provider,
                "model": j.model,
                "created": when(j.created_at, zone(tz)),
            }
            for j in jobs
        ],
        hide_index=True,
        width="stretch",
        column_config={"open": st.column_config.LinkColumn("open", display_text="open ↗")},
    )

st.subheader("Events")
what = st.selectbox(
    "Kind of event", [None, *events.What], format_func=lambda w: "every kind" if w is None else w.replace("_", " ")
)
listed = event_list(window, what)
if listed.empty:
    st.caption("No event of this kind in this range.")
else:
    st.caption(f"The newest {EVENTS_SHOWN} at most, newest first; a narration's own page shows its whole history.")
    st.dataframe(
        listed,
        hide_index=True,
        width="stretch",
        column_config={"open": st.column_config.LinkColumn("open", display_text="open ↗")},
    )

st.subheader("Cost and audio")
settings = get_settings()
show_headlines(
    [
        Headline("Estimated cost in range", f"${panels.costs['usd'].sum():,.2f}"),
        budget_headline(panels.month_to_date.total_usd, this_month(settings), settings),
        Headline("Characters billed, month to date", f"{panels.month_to_date.total_characters:,}"),
    ]
)
if (budget := settings.monthly_budget_usd) is not None:
    st.caption(f"The budget is ${budget:,.2f} a month, for every provider and project together.")
if panels.unpriced_models:
    st.caption(md("No list price in the catalogue (counted at $0): " + ", ".join(panels.unpriced_models)))
side_by_side(history.cost, history.audio)

st.subheader("Storage")
storage_panel(user)
