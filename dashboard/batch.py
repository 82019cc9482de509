"""Progress of a bulk scene narration: how many of its rows are done, updated while it runs."""

from __future__ import annotations

import streamlit as st

from db.engine import new_session
from db.narrations import status_counts

POLL_SECONDS = 2.0


@st.fragment(run_every=POLL_SECONDS)
def batch_progress(row_ids: list[int]) -> None:
    with new_session() as session:
        counts = status_counts(session, "scene", row_ids)
    total = len(row_ids)
    finished = counts.get("completed", 0) + counts.get("failed", 0)
    st.progress(finished / total if total else 1.0, text=f"{counts.get('completed', 0)} of {total} scenes completed")
    if counts.get("failed"):
        st.warning(f"{counts['failed']} failed; open them in the library to see why and retry.")
