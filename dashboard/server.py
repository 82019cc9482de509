"""What `streamlit run` starts: the dashboard (`app.py`) plus the route that sets the sign-in cookie."""

import streamlit as st

from dashboard.session_route import ROUTES

app = st.App("app.py", routes=ROUTES)
