"""Progress of a bulk scene narration: a bar, and one line per scene with its state and its page,
updated while any of it is queued or running."""

from __future__ import annotations

import streamlit as st

from dashboard import labels, links
from db.engine import new_session
from db.narrations import SceneRow, scene_rows

POLL_SECONDS = 2.0
PENDING = ("queued", "processing")


def batch_progress(row_ids: list[int]) -> None:
    """The batch's bar and lines: polling while any of it is queued or running, drawn once when done."""
    rows = _rows(row_ids)
    if any(r.status in PENDING for r in rows):
        _live_progress(row_ids)
    else:
        _draw(rows)


def _rows(row_ids: list[int]) -> list[SceneRow]:
    with new_session() as session:
        return scene_rows(session, row_ids)


@st.fragment(run_every=POLL_SECONDS)
def _live_progress(row_ids: list[int]) -> None:
    rows = _rows(row_ids)
    _draw(rows)
    if not any(r.status in PENDING for r in rows):
        st.rerun()  # all done: the page redraws the bar once, without polling


def _draw(rows: list[SceneRow]) -> None:
    states = [labels.state(r.status, r.cancelled_at) for r in rows]
    completed, total = states.count("completed"), len(rows)
    finished = sum(s not in PENDING for s in states)
    st.progress(finished / total if total else 1.0, text=f"{completed} of {total} scenes completed")
    if failed := states.count("failed"):
        st.warning(f"{failed} failed; open them below to see why and retry.")
    st.dataframe(
        [
            {"scene": f"#{r.image_id}: {r.caption[:80]}", "state": state, "narration": links.url("scene", r.row_id)}
            for r, state in zip(rows, states, strict=True)
        ],
        column_config={"narration": st.column_config.LinkColumn("narration", display_text=r"id=(\d+)$")},
        hide_index=True,
        width="stretch",
    )
