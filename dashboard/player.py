"""The narration card: its state (a cancel reads cancelled, not failed) that updates by itself, the
names compose uses, a queued narration's place in line, the actions that can succeed now, the inline
player and the download named after the story or scene.

Shared by the compose page (the narration just submitted) and the narration page.
"""

from __future__ import annotations

import base64
import time
from urllib.parse import urljoin

import streamlit as st

from dashboard import labels
from dashboard.audio_route import audio_path
from dashboard.plain import md
from dashboard.views import NarrationView, load_view
from db.line import Place
from db.models import CANCELLED
from db.narrations import now
from workers.engine import account_voices
from workers.service import actions
from workers.service.roles import SignedIn

POLL_SECONDS = 2.0

SAID_SECONDS = 15.0
"""How long an action's sentence stays over its card. Shown only once, it vanished when a quick job
finished and the live card redrew the page, before anyone could read it (seen in a browser test)."""


def report(key: str, message: str) -> None:
    """Keep an action's sentence and re-render the page, so the card shows the state it led to."""
    st.session_state[f"said-{key}"] = (message, time.monotonic())
    st.rerun()


def _said(kind: str, row_id: int) -> None:
    """What the last action did, over the card's new state (or over "no longer exists", after a delete)."""
    said, at = st.session_state.get(f"said-{kind}-{row_id}", ("", 0.0))
    if said and time.monotonic() - at < SAID_SECONDS:
        st.info(md(said))


def _in_line(place: Place) -> str:
    """Where a queued narration stands and when it may start, or why that is not known."""
    zone = labels.display_zone()
    if place.due_at is not None:
        return f"Waits until {labels.when(place.due_at, zone)}; a worker starts it then."
    where = f"Place in line: {place.position} ({place.ahead} ahead of it)."
    if not place.workers:
        return f"{where} Estimated start: unknown, no worker is running."
    wait = place.wait
    if wait is None:
        return f"{where} Estimated start: unknown, no narration finished in the last hour to time the queue by."
    if not wait:
        return f"{where} Estimated start: now, a worker is free for it."
    minutes = max(1, round(wait.total_seconds() / 60))
    return f"{where} Estimated start: in about {minutes} min (around {labels.when(now() + wait, zone)})."


@st.dialog("Delete this narration?")
def _confirm_delete(kind: str, row_id: int, user: SignedIn) -> None:
    """A delete cannot be undone: say what goes before anything does; Cancel closes and does nothing."""
    st.markdown(md(actions.what_delete_removes(kind, row_id)))
    keep, delete = st.columns(2)
    if keep.button("Cancel", key=f"keep-{kind}-{row_id}", width="stretch"):
        st.rerun()  # closes the dialog; nothing was done
    if delete.button("Delete for good", key=f"confirm-delete-{kind}-{row_id}", type="primary", width="stretch"):
        report(f"{kind}-{row_id}", actions.delete(kind, row_id, user))


def _actions(view: NarrationView, shown_state: str, user: SignedIn) -> None:
    """Only the actions that can succeed now; where one cannot, the sentence says why at once."""
    key = f"{view.kind}-{view.row_id}"
    if view.pending and user.can_compose and st.button("Cancel", key=f"cancel-{key}"):
        report(key, actions.cancel(view.kind, view.row_id, user))
    if view.redo_in_flight:
        st.info(
            f"{labels.passages(view.redo_passages)} being narrated again; this audio plays until the new one is ready."
        )
        if user.can_compose and st.button("Cancel the redo", key=f"cancel-redo-{key}"):
            report(key, actions.cancel(view.kind, view.row_id, user))
    if shown_state in ("failed", CANCELLED) and user.can_compose and st.button("Retry", key=f"retry-{key}"):
        report(key, actions.retry(view.kind, view.row_id, user))
    if not user.is_superuser:
        return
    if view.pending:
        st.caption("Delete is offered once it has stopped: cancel it first, or let it finish.")
    elif refused := actions.why_not_delete(view.kind, view.row_id):
        st.caption(md(f"Delete is not offered: {refused}"))
    elif st.button("Delete", key=f"delete-{key}"):
        _confirm_delete(view.kind, view.row_id, user)


def _start_key(kind: str, row_id: int) -> str:
    return f"play-from-{kind}-{row_id}"


def play_from(kind: str, row_id: int, seconds: float) -> None:
    """Button callback (the Passages tab): the full player starts at `seconds`, rounded down to the
    whole second `st.audio` takes, so a passage starts in the pause before it rather than a word late."""
    st.session_state[_start_key(kind, row_id)] = int(seconds)


def _full_player(view: NarrationView) -> bool:
    """Play the whole file from the audio route, seekable to its end, if it is there to play.

    `st.audio` takes only an absolute URL, so the route is joined to the page's own address (same
    origin: the browser sends the session cookie with it). Until the page has told the script its
    address (AppTest never does), the card keeps the preview. A passage chosen to play from moves
    the player there and starts it (Streamlit seeks when `start_time` changes)."""
    page = st.context.url
    if not (view.file_ready and page):
        return False
    start = int(st.session_state.get(_start_key(view.kind, view.row_id), 0))
    url = urljoin(page, audio_path(view.kind, view.row_id))
    st.audio(url, format=view.mime, start_time=start, autoplay=start > 0)
    return True


def _render(view: NarrationView, user: SignedIn, *, full: bool) -> None:
    shown_state = labels.state(view.status, view.cancelled_at)
    badge = labels.BADGES.get(shown_state) or md(view.status)  # a status only the Django side knows, as text
    st.markdown(f"**{view.kind.title()} narration #{view.row_id}** · {badge}")
    st.caption(
        md(
            f"{labels.provider(view.provider)} · {labels.model(view.provider, view.model)} · "
            f"voice {labels.voice(view.provider, view.voice)}"
        )
    )
    if view.fell_back_from:
        asked = md(view.fell_back_from)  # a column of the shared table: escaped like any of its text
        st.caption(
            f":orange-badge[fallback voice] Asked for {asked}, which failed for account reasons; narrated "
            "with the project's fallback voice (its history says why)."
        )
    if account_voices.missing(view.provider, view.voice):
        st.warning(
            f"Its voice {md(view.voice or '')} is no longer in the ElevenLabs account: a retry, a redo or a copy "
            "in it would fail before any request. Duplicate it with another voice."
        )
    if view.place is not None:
        st.caption(_in_line(view.place))
    if view.pending and view.chunks_total > 1:
        st.progress(view.chunks_done / view.chunks_total, text=f"{view.chunks_done} of {view.chunks_total} chunks done")
    if shown_state == "failed" and view.error_message:
        st.error(md(view.error_message))
    elif shown_state == CANCELLED and view.error_message:
        st.caption(md(view.error_message))  # stopped on purpose: not an error to act on
    elif view.pending and view.error_message:
        st.warning(md(view.error_message))  # e.g. a retry after a provider outage
    _said(view.kind, view.row_id)
    _actions(view, shown_state, user)
    if not (full and _full_player(view)) and view.preview_base64:
        st.audio(base64.b64decode(view.preview_base64), format=view.mime)
        if view.preview_truncated:
            st.caption(
                f"The preview holds the first {labels.length(view.preview_seconds)}; download the file for all of it."
            )
    if view.duration_seconds is not None:
        st.caption(f"Length {labels.length(view.duration_seconds)}")
    if view.file_refused:
        st.warning(view.file_refused)  # instead of the download; the sentence never quotes the stored path
    elif view.file_ready:  # streamed by the route as the browser saves it, never read into this process
        st.link_button("Download the full file", audio_path(view.kind, view.row_id, download=True))
    elif view.status == "completed" and view.audio_file:
        st.warning("The audio file is missing from the media folder; narrate it again, or restore the file:")
        st.text(view.audio_file)  # a stored path, shown as text (never as Markdown)


def narration_card(kind: str, row_id: int, user: SignedIn, *, full: bool = False) -> None:
    """Render the card; while the job is pending it re-renders itself every couple of seconds.

    `full`: the narration page plays the whole file (seekable, streamed by the audio route) in place
    of the preview. The compose card keeps the row's quick preview: it is a glance at what was just
    submitted, drawn without a request to the route, and the page it links to has the full player."""
    view = load_view(kind, row_id)
    if view is None:
        _said(kind, row_id)
        st.info(f"{kind.title()} narration #{row_id} no longer exists.")
        return
    if view.live:
        _live_card(kind, row_id, user, full)
    else:
        _render(view, user, full=full)


@st.fragment(run_every=POLL_SECONDS)
def _live_card(kind: str, row_id: int, user: SignedIn, full: bool) -> None:
    view = load_view(kind, row_id)
    if view is None:
        st.info(f"{kind.title()} narration #{row_id} no longer exists.")
        return
    if not view.live:
        # Stop polling. The whole page draws the final card, and only it: had this run drawn it too,
        # the rerun would replace its player under someone who pressed play at once (seen in CI).
        st.rerun()
    _render(view, user, full=full)
