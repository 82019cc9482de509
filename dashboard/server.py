"""What `streamlit run` starts: the dashboard (`app.py`), the route that sets the sign-in cookie, and
the alert watch that keeps the webhook informed with no page open."""

import streamlit as st

from dashboard.alert_watch import watch_alerts
from dashboard.session_route import ROUTES

app = st.App("app.py", routes=ROUTES, lifespan=watch_alerts)
