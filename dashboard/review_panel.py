"""The narration page's Review tab: where its review stands, every review with its comments (each
one plays from its moment), and for staff, comments to add and approve or request changes."""

from __future__ import annotations

import streamlit as st

from dashboard import labels
from dashboard.plain import md
from dashboard.player import play_from, report
from dashboard.views import NarrationDetail, load_reviews
from db.reviews import Comment, Verdict
from workers.service.review import review
from workers.service.roles import SignedIn

STATES = {
    "approved": ":green-badge[:material/verified: approved]",
    "changes_requested": ":orange-badge[:material/rate_review: changes requested]",
    "changed_since_review": ":orange-badge[:material/update: changed since its review]",
    "awaiting_approval": ":red-badge[:material/pending: needs approval]",
}

CHANGES = ("completed", "redo_completed", "fell_back", "replaced")
"""The events after a review that changed the audio it was about."""


def _standing(detail: NarrationDetail) -> None:
    standing, past = load_reviews(detail.kind, detail.row_id)
    zone = labels.display_zone()
    if standing is None or standing.state is None:
        st.caption("Not reviewed yet; its project does not require approval.")
    else:
        said = STATES.get(standing.state, md(standing.state))
        if standing.reviewed_by is not None and standing.reviewed_at is not None:
            said += f" · last review by **{md(standing.reviewed_by)}**, {labels.when(standing.reviewed_at, zone)}"
        if standing.requires_approval:
            said += " · its project requires approval"
        st.markdown(said)
    if standing is not None and standing.state == "changed_since_review" and standing.reviewed_at is not None:
        since = [e for e in detail.timeline if e.at > standing.reviewed_at and e.what in CHANGES]
        st.caption("What changed since: " + "; ".join(f"{e.label}, {labels.when(e.at, zone)}" for e in since))
    for number, earlier in enumerate(past):
        verdict = "approved" if earlier.verdict == Verdict.APPROVED else "asked for changes"
        st.markdown(f"**{md(earlier.username or 'someone')}** {verdict} · {labels.when(earlier.at, zone)}")
        for spot, comment in enumerate(earlier.comments):
            where = labels.length(comment.at_seconds)
            passage = f" (passage {comment.passage + 1})" if comment.passage is not None else ""
            left, right = st.columns([1, 5], vertical_alignment="center")
            left.button(
                f"▶ {where}",
                key=f"review-play-{detail.kind}-{detail.row_id}-{number}-{spot}",
                on_click=play_from,
                args=(detail.kind, detail.row_id, comment.at_seconds),
                help=f"Play from {where} in the full player{passage}",
            )
            right.text(f"{where}{passage}: {comment.text}")  # a reviewer's words: plain text


def _draft_key(detail: NarrationDetail) -> str:
    return f"review-draft-{detail.kind}-{detail.row_id}"


def _write(detail: NarrationDetail, user: SignedIn) -> None:
    """Comments drafted one by one (kept until the review is sent), then approve or request changes."""
    key = _draft_key(detail)
    draft: list[Comment] = st.session_state.setdefault(key, [])
    st.caption("Comment on a moment of the audio: its time (m:ss, as the player shows it) and what to change.")
    left, right = st.columns([1, 4])
    moment = left.text_input("At", placeholder="1:23", key=f"{key}-at")
    text = right.text_input("Comment", placeholder="say “Aoife” as EE-fa", key=f"{key}-text")
    if st.button("Add the comment", key=f"{key}-add"):
        at = labels.seconds_of(moment)
        if at is None:
            st.warning("Give the moment as the player shows it, such as 1:23.")
        else:
            draft.append(Comment(at, text))
    for comment in draft:
        st.text(f"{labels.length(comment.at_seconds)}: {comment.text}")
    approve, ask = st.columns(2)
    if approve.button("Approve", type="primary", key=f"{key}-approve"):
        _send(detail, Verdict.APPROVED, draft, user)
    if ask.button("Request changes", key=f"{key}-ask", disabled=not draft):
        _send(detail, Verdict.CHANGES_REQUESTED, draft, user)


def _send(detail: NarrationDetail, verdict: Verdict, draft: list[Comment], user: SignedIn) -> None:
    said = review(detail.kind, detail.row_id, verdict, list(draft), user)
    if said.startswith(("Approved", "Requested")):  # sent: the draft and its fields start afresh
        key = _draft_key(detail)
        for field in (key, f"{key}-at", f"{key}-text"):
            st.session_state.pop(field, None)
    report(f"{detail.kind}-{detail.row_id}", said)
    st.rerun()


def review_panel(detail: NarrationDetail, user: SignedIn) -> None:
    _standing(detail)
    if detail.status != "completed":
        st.caption("A narration is reviewed once it has completed.")
        return
    if not user.can_compose:
        st.caption("Staff review and approve; your account can listen and read the reviews.")
        return
    st.divider()
    _write(detail, user)
