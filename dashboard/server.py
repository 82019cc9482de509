"""What `streamlit run` starts: the dashboard (`app.py`), the route that sets the sign-in cookie, the one
that streams a narration's file to its player and download, and
the alert watch that keeps the webhook informed with no page open, and, with DASHBOARD_METRICS_PORT
set, the Prometheus endpoint of the queues and workers (`workers.operations.metrics`).

Before any of it, the settings are checked and PostgreSQL and Redis pinged: a bad setting or a store
that does not answer stops the start with one sentence and status 2, instead of a traceback on the
first page someone opens."""

import sys

import streamlit as st

from dashboard import audio_route, session_route
from dashboard.alert_watch import watch_alerts
from workers.operations.metrics import serve
from workers.operations.startup import StartupRefused, check_servers

try:
    check_servers()
    serve("dashboard")
except StartupRefused as refused:
    print(f"narration-desk dashboard: {refused}", file=sys.stderr, flush=True)
    raise SystemExit(2) from None

app = st.App("app.py", routes=session_route.ROUTES + audio_route.ROUTES, lifespan=watch_alerts)
