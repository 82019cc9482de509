"""Library: every narration, newest first, filtered and paginated on the server; open one to hear it."""

from datetime import UTC, datetime, time

import streamlit as st

from dashboard.player import narration_card
from dashboard.session import require
from db.engine import new_session
from db.library import Filters, page
from db.models import Provider, Status

PAGE_SIZE = 50

user = require()
st.title("Library")

with st.form("filters"):
    search = st.text_input("Search", placeholder="words from the text, a row id (story 12) or a task id")
    left, middle, right = st.columns(3)
    status = left.selectbox("Status", [None, *Status], format_func=lambda s: "any status" if s is None else s)
    provider = middle.selectbox("Provider", [None, *Provider], format_func=lambda p: "any provider" if p is None else p)
    dates = right.date_input("Created between", value=[], format="YYYY-MM-DD")
    st.form_submit_button("Apply")

since = until = None
if isinstance(dates, tuple) and len(dates) == 2:
    since = datetime.combine(dates[0], time.min, tzinfo=UTC)
    until = datetime.combine(dates[1], time.max, tzinfo=UTC)
filters = Filters(status=status, provider=provider, search=search or None, since=since, until=until)

number = int(st.session_state.get("library_page", 1))
with new_session() as session:
    rows, total = page(session, filters, number=number, size=PAGE_SIZE)
if not rows:
    st.info("No narration matches." if total == 0 and (search or status or provider or since) else "Nothing yet.")
    st.stop()

pages = max(1, -(-total // PAGE_SIZE))
st.caption(f"{total:,} narration{'' if total == 1 else 's'} · page {number} of {pages}")
st.dataframe(
    [
        {"kind": r.kind, "id": r.id, "status": r.status, "provider": r.provider, "for": r.title,
         "text": r.prompt_start, "by": r.username, "created": r.created_at,
         "length (s)": round(r.duration_seconds, 1) if r.duration_seconds else None}
        for r in rows
    ],
    hide_index=True,
    width="stretch",
)  # fmt: skip
back, forward = st.columns(2)
if back.button("Newer", disabled=number <= 1):
    st.session_state["library_page"] = number - 1
    st.rerun()
if forward.button("Older", disabled=number >= pages):
    st.session_state["library_page"] = number + 1
    st.rerun()

choice = st.selectbox(
    "Open", range(len(rows)), format_func=lambda i: f"{rows[i].kind} #{rows[i].id} · {rows[i].prompt_start[:60]}"
)
narration_card(rows[choice].kind, rows[choice].id, user=user)
