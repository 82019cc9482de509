"""The narration card: status that updates by itself, the inline player and the download.

Shared by the compose page (the narration just submitted) and the recent list (the one picked).
"""

from __future__ import annotations

import base64
import time

import streamlit as st

from dashboard.plain import md
from dashboard.views import NarrationView, load_view
from workers import actions
from workers.signin import SignedIn

POLL_SECONDS = 2.0

_BADGE = {
    "queued": ":gray-badge[:material/schedule: queued]",
    "processing": ":blue-badge[:material/progress_activity: processing]",
    "completed": ":green-badge[:material/check_circle: completed]",
    "failed": ":red-badge[:material/error: failed]",
}


SAID_SECONDS = 15.0
"""How long an action's sentence stays over its card. Shown only once, it vanished when a quick job
finished and the live card redrew the page, before anyone could read it (seen in a browser test)."""


def report(key: str, message: str) -> None:
    """Keep an action's sentence and re-render the page, so the card shows the state it led to."""
    st.session_state[f"said-{key}"] = (message, time.monotonic())
    st.rerun()


def _render(view: NarrationView, user: SignedIn) -> None:
    badge = _BADGE.get(view.status) or md(view.status)  # a status only the Django side knows, as text
    st.markdown(f"**{view.kind.title()} narration #{view.row_id}** · {badge}")
    st.caption(md(f"{view.provider} · {view.model or 'default model'} · voice {view.voice or 'default'}"))
    if view.pending and view.chunks_total > 1:
        st.progress(view.chunks_done / view.chunks_total, text=f"{view.chunks_done} of {view.chunks_total} chunks done")
    if view.status == "failed" and view.error_message:
        st.error(md(view.error_message))
    elif view.pending and view.error_message:
        st.warning(md(view.error_message))  # e.g. a retry after a provider outage
    key = f"{view.kind}-{view.row_id}"
    said, at = st.session_state.get(f"said-{key}", ("", 0.0))
    if said and time.monotonic() - at < SAID_SECONDS:
        st.info(md(said))  # what the last action did, over the card's new state
    if view.pending and user.can_compose and st.button("Cancel", key=f"cancel-{key}"):
        report(key, actions.cancel(view.kind, view.row_id, user))
    if view.redo_in_flight:
        which = ", ".join(map(str, view.redo_passages))
        st.info(f"Passage {which} is being narrated again; this audio plays until the new one is ready.")
        if user.can_compose and st.button("Cancel the redo", key=f"cancel-redo-{key}"):
            report(key, actions.cancel(view.kind, view.row_id, user))
    if view.status == "failed" and user.can_compose and st.button("Retry", key=f"retry-{key}"):
        report(key, actions.retry(view.kind, view.row_id, user))
    if not view.pending and user.is_superuser and st.button("Delete", key=f"delete-{key}"):
        report(key, actions.delete(view.kind, view.row_id, user))
    if view.preview_base64:
        st.audio(base64.b64decode(view.preview_base64), format=view.mime)
        if view.preview_truncated:
            st.caption(f"The preview holds the first {view.preview_seconds:.0f} s; download the file for all of it.")
    if view.duration_seconds is not None:
        st.caption(f"Duration {view.duration_seconds:.1f} s")
    if view.file_refused:
        st.warning(view.file_refused)  # instead of the download; the sentence never quotes the stored path
    elif view.file_bytes is not None and view.file_name:
        st.download_button("Download the full file", view.file_bytes, file_name=view.file_name, mime=view.mime)
    elif view.status == "completed" and view.audio_file:
        st.warning("The audio file is missing from the media folder; narrate it again, or restore the file:")
        st.text(view.audio_file)  # a stored path, shown as text (never as Markdown)


def narration_card(kind: str, row_id: int, user: SignedIn) -> None:
    """Render the card; while the job is pending it re-renders itself every couple of seconds."""
    view = load_view(kind, row_id)
    if view is None:
        st.info(f"{kind.title()} narration #{row_id} no longer exists.")
        return
    if view.live:
        _live_card(kind, row_id, user)
    else:
        _render(view, user)


@st.fragment(run_every=POLL_SECONDS)
def _live_card(kind: str, row_id: int, user: SignedIn) -> None:
    view = load_view(kind, row_id)
    if view is None:
        st.info(f"{kind.title()} narration #{row_id} no longer exists.")
        return
    _render(view, user)
    if not view.live:
        st.rerun()  # stop polling: the whole page re-renders once with the final state
