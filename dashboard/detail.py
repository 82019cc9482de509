"""The detail of one narration below its player: what and for whom, the timeline, who did what,
what it cost, its passages (redo one), and "duplicate with changes"."""

from __future__ import annotations

import uuid

import streamlit as st

from dashboard import labels, links
from dashboard.choices import not_set_up, submit_label, voice_choice
from dashboard.listen_back import heard_back
from dashboard.plain import md
from dashboard.player import play_from, report
from dashboard.qc_panel import quality_panel
from dashboard.review_panel import review_panel
from dashboard.views import NarrationDetail, load_detail, load_history, passage_audio, starts
from db import events
from db.narrations import Kind
from workers.engine import qc
from workers.engine.media import RefusedPath
from workers.service import actions
from workers.service.roles import SignedIn
from workers.service.submit import Refused, submit


def _fit(rows: int) -> int:
    """A table height in pixels that shows every row without an inner scrollbar."""
    return 38 + 35 * rows


def _quality(detail: NarrationDetail) -> None:
    """The quality checks' headline figures and flagged passages (`workers.engine.qc`); none before a
    narration is measured (narrations finished before the checks existed, or not finished)."""
    measured = detail.metadata.get("qc")
    if not isinstance(measured, dict):
        return
    st.caption("Quality")
    try:
        figures, flagged = qc.summary(measured), qc.flagged(measured)
    except (KeyError, TypeError, ValueError, AttributeError):  # written by hand or by the Django app, not by us
        st.caption("The stored checks are not in the form this desk writes them; see the audio metadata below.")
        return
    st.dataframe(
        [{"": k, "value": v} for k, v in figures.items()], hide_index=True, width="stretch", height=_fit(len(figures))
    )
    if flagged:
        st.dataframe(flagged, hide_index=True, width="stretch", height=_fit(len(flagged)))
    if said := heard_back(measured):
        st.caption(md(said))


def _timeline(timeline: list[events.Happened]) -> None:
    zone = labels.display_zone()
    st.dataframe(
        [{"event": e.label, "by": e.by, "detail": e.message or "", "when": labels.when(e.at, zone)} for e in timeline],
        hide_index=True,
        width="stretch",
        height=_fit(len(timeline)),
    )


def _facts(detail: NarrationDetail) -> None:
    st.text(f"Narration of {detail.subject}")  # plain text: titles and captions are people's words
    left, right = st.columns(2)
    with left:
        st.caption("Timeline")
        _timeline(detail.timeline)
    with right:
        st.caption("Who and how")
        facts = {
            "voice": labels.voice(detail.provider, detail.voice),
            "provider": labels.provider(detail.provider),
            "model": labels.model(detail.provider, detail.model),
            "length": labels.length(detail.duration_seconds),
            "created by": detail.created_by or "—",
            "last changed by": detail.updated_by or "—",
            "worker": detail.processed_by or "—",
            "attempts": f"{detail.attempts} of {detail.max_attempts}",
            "priority": labels.priority(detail.priority),
            "task id": detail.task_id or "—",
            "project": detail.project or "—",
            "theme": detail.theme or "—",
            "tags": ", ".join(detail.tags) or "—",
            "format": detail.output_format,
            "mastering": labels.mastered(detail.metadata, detail.mastering),
            "characters billed": f"{detail.characters_billed:,}",
            "cost": "—" if detail.cost_usd is None else f"${detail.cost_usd:.4f}",
        }
        if detail.replaces_id:
            facts["replaces"] = f"story narration #{detail.replaces_id}"
        if detail.replaced_by_id:
            facts["replaced by"] = f"story narration #{detail.replaced_by_id}"
        st.dataframe(
            [{"": k, "value": v} for k, v in facts.items()], hide_index=True, width="stretch", height=_fit(len(facts))
        )
    _quality(detail)
    with st.expander("Text"):
        st.text(detail.prompt)
    if detail.metadata:
        with st.expander("Audio metadata"):
            st.json(detail.metadata)


def _passages(detail: NarrationDetail, user: SignedIn) -> None:
    quality_panel(detail, user)
    st.dataframe(
        [
            {"#": c.idx + 1, "starts at": labels.length(at), "status": c.state,
             "seconds": c.seconds, "requests": c.provider_calls, "characters billed": c.characters_billed,
             "text": c.text[:120]}
            for c, at in zip(detail.chunks, starts(detail), strict=True)
        ],
        hide_index=True,
        width="stretch",
    )  # fmt: skip
    if not detail.chunks:
        return
    number = st.number_input("Passage", 1, len(detail.chunks), 1, key=f"passage-{detail.kind}-{detail.row_id}")
    chunk = detail.chunks[int(number) - 1]
    if chunk.redo_state:
        st.text(f"Passage {chunk.idx + 1}: {chunk.state}")  # its redo's outcome, with a stored reason: plain text
    try:
        wav = passage_audio(chunk)
    except RefusedPath as refusal:
        st.warning(refusal.not_done("opened"))
    else:
        if wav:
            st.audio(wav, format="audio/wav")  # hear it alone, even while later passages are still narrated
        else:
            st.caption(f"Passage {chunk.idx + 1} is not narrated yet.")
    at = starts(detail)[chunk.idx]
    if detail.status == "completed" and at is not None:
        st.button(
            f"Play from {labels.length(at)} in the full player",
            key=f"play-from-{detail.kind}-{detail.row_id}",
            on_click=play_from,
            args=(detail.kind, detail.row_id, at),
        )
    if not user.can_compose:
        return
    if why_not := detail.redo_refusal:
        st.info(why_not)  # said at once, instead of a button that would be refused
        return
    st.caption("Fix this passage without redoing the rest: edit it (or keep it) and narrate it again.")
    text = st.text_area("Its text", value=chunk.text, key=f"passage-text-{detail.kind}-{detail.row_id}-{chunk.idx}")
    if st.button(f"Narrate passage {chunk.idx + 1} again", key=f"redo-{detail.kind}-{detail.row_id}"):
        report(f"{detail.kind}-{detail.row_id}", actions.redo_chunk(detail.kind, detail.row_id, chunk.idx, text, user))


def _duplicate(detail: NarrationDetail, target_id: int, user: SignedIn) -> None:
    key = f"dup-{detail.kind}-{detail.row_id}"
    text = st.text_area("Text", value=detail.prompt, height=160, key=f"{key}-text")
    metadata = detail.metadata
    choice = voice_choice(
        key,
        provider=str(metadata.get("provider") or ""),
        model=str(metadata.get("model") or ""),
        voice=str(metadata.get("voice") or ""),
        output_format=detail.output_format,
        priority=detail.priority,
        instructions=detail.instructions,
        speed=detail.speed,
        mastering_profile=detail.mastering,
    )
    if detail.kind == "story":
        st.caption("A story has one narration: the copy replaces this one when it completes.")
    if unavailable := not_set_up(choice, user):
        st.warning(md(unavailable))
    label = submit_label(choice, "Submit the copy")
    if st.button(label, key=f"{key}-submit", disabled=choice.missing_key is not None):
        request = choice.request(
            kind=detail.kind,
            target_id=target_id,
            prompt=text,
            theme=detail.theme,
            tags=tuple(detail.tags),
            replace=True,
            user_id=user.user_id,
            copy_of=detail.row_id,
            once_key=st.session_state.setdefault(f"{key}-token", uuid.uuid4().hex),
        )
        try:
            done = submit(request)
        except Refused as refusal:
            st.error(md(refusal))
        else:
            st.session_state.pop(f"{key}-token")
            st.success(md(done.message))
            st.page_link(links.PAGE, label=f"Open #{done.row_id}", query_params=links.params(done.kind, done.row_id))


def narration_detail(kind: Kind, row_id: int, user: SignedIn) -> None:
    """The tabs under a narration's card."""
    detail = load_detail(kind, row_id)
    if detail is None:  # deleted: what happened to it until then is still on record
        if history := load_history(kind, row_id):
            st.caption("Its history")
            _timeline(history)
        return
    tabs = ["Details", "Passages", "Review"] + (["Duplicate with changes"] if user.can_compose else [])
    # Keyed and tracked, so the tab someone was on survives the rerun an action makes (a redo).
    shown = st.tabs(tabs, key=f"tabs-{kind}-{row_id}", on_change="rerun")
    with shown[0]:
        _facts(detail)
    with shown[1]:
        _passages(detail, user)
    with shown[2]:
        review_panel(detail, user)
    if user.can_compose:
        with shown[3]:
            if detail.target_id is None:
                st.info("The story this narrated was deleted, so it cannot be narrated again.")
            else:
                _duplicate(detail, detail.target_id, user)
