"""Progress of a bulk scene narration: how many of its rows are done, updated while it runs."""

from __future__ import annotations

import streamlit as st

from db.engine import new_session
from db.narrations import status_counts

POLL_SECONDS = 2.0


def batch_progress(row_ids: list[int]) -> None:
    """The batch's bar: polling while any of it is queued or running, drawn once when it is all done."""
    counts = _counts(row_ids)
    if counts.get("queued", 0) + counts.get("processing", 0):
        _live_progress(row_ids)
    else:
        _draw(counts, len(row_ids))


def _counts(row_ids: list[int]) -> dict[str, int]:
    with new_session() as session:
        return status_counts(session, "scene", row_ids)


@st.fragment(run_every=POLL_SECONDS)
def _live_progress(row_ids: list[int]) -> None:
    counts = _counts(row_ids)
    _draw(counts, len(row_ids))
    if not counts.get("queued", 0) + counts.get("processing", 0):
        st.rerun()  # all done: the page redraws the bar once, without polling


def _draw(counts: dict[str, int], total: int) -> None:
    finished = counts.get("completed", 0) + counts.get("failed", 0)
    st.progress(finished / total if total else 1.0, text=f"{counts.get('completed', 0)} of {total} scenes completed")
    if counts.get("failed"):
        st.warning(f"{counts['failed']} failed; open them in the library to see why and retry.")
