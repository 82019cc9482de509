"""Recent narrations: the newest of both kinds, and the player for the one picked."""

import streamlit as st

from dashboard.player import narration_card
from dashboard.session import require
from dashboard.views import recent

user = require()
st.title("Recent narrations")

rows = recent()
if not rows:
    st.info("Nothing narrated yet. Compose one first.")
    st.stop()

st.dataframe(
    [
        {
            "kind": r.kind,
            "id": r.row_id,
            "status": r.status,
            "provider": r.provider,
            "text": r.prompt_start,
            "created": r.created_at,
        }
        for r in rows
    ],
    hide_index=True,
    width="stretch",
)
choice = st.selectbox(
    "Open",
    range(len(rows)),
    format_func=lambda i: f"{rows[i].kind} #{rows[i].row_id} · {rows[i].prompt_start[:50]}",
)
narration_card(rows[choice].kind, rows[choice].row_id, user=user)
