"""What `streamlit run` starts: the dashboard (`app.py`), the route that sets the sign-in cookie, the one
that streams a narration's file to its player and download, and
the alert watch that keeps the webhook informed with no page open."""

import streamlit as st

from dashboard import audio_route, session_route
from dashboard.alert_watch import watch_alerts

app = st.App("app.py", routes=session_route.ROUTES + audio_route.ROUTES, lifespan=watch_alerts)
