"""The story board's parts (`pages/board.py`): the story, then each scene image in order with its
thumbnail, state, quality badge and player; "play all"; and "narrate the missing scenes".

Apart from the page so a test can read a board's lines and links without a browser.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from urllib.parse import urljoin

import streamlit as st

from dashboard import labels, links
from dashboard.audio_route import audio_path
from dashboard.choices import not_set_up, submit_label, voice_choice
from dashboard.plain import md
from dashboard.play_all import Track, play_all_html
from dashboard.views import MIME, thumbnail
from db.board import Board, Slot
from db.engine import new_session
from db.narrations import get
from workers.engine.media import RefusedPath
from workers.service.bulk import narrate_scenes
from workers.service.roles import SignedIn
from workers.service.submit import Refused

PAGE = "pages/board.py"
THUMBNAIL_WIDTH = 120


def board_params(story_id: int) -> dict[str, str]:
    """The board's query parameters (/board?id=12). Not `story`: the library binds that name to its
    story filter, and a page may not set a parameter one of its widgets is bound to."""
    return {"id": str(story_id)}


def library_params(board: Board) -> dict[str, str]:
    """The library filtered to this story's narrations. Its filters are in the address as the names
    they show (Streamlit's bound widgets), and a story is listed once its project is picked."""
    return {"project": board.project, "story": board.title} if board.project else {}


def slot_name(slot: Slot, number: int) -> str:
    """ "Story" or "Scene 3", as the board and play-all name a line."""
    return "Story" if slot.kind == "story" else f"Scene {number}"


def slot_badge(slot: Slot) -> str:
    """The line's state as a badge; a scene with nothing to play and nothing on the way stands out."""
    if slot.status is None:
        return ":red-badge[:material/mic_off: not narrated]"
    shown = labels.state(slot.status, slot.cancelled_at)
    return labels.BADGES.get(shown) or md(shown)  # a status only the Django side knows, as text


def tracks(board: Board, page_url: str | None) -> list[Track]:
    """What "play all" plays: every completed line in board order, from the audio route."""
    return [
        Track(
            f"{slot_name(slot, number)}: {slot.text[:80]}",
            urljoin(page_url or "/", audio_path(slot.kind, slot.narration_id)),
        )
        for number, slot in enumerate(board.slots)
        if slot.status == "completed" and slot.narration_id is not None
    ]


def show_play_all(board: Board, page_url: str | None) -> None:
    playing = tracks(board, page_url)
    if not playing:
        st.caption("Nothing to play yet: no line of this board has a completed narration.")
        return
    st.html(play_all_html(playing), unsafe_allow_javascript=True)


def _thumbnail(slot: Slot) -> None:
    if slot.kind == "story":
        st.markdown(":material/menu_book:")
        return
    try:
        picture = thumbnail(slot.image)
    except RefusedPath as refusal:
        st.caption(refusal.not_done("shown"))
        return
    if picture:
        st.image(picture, width=THUMBNAIL_WIDTH)
    else:
        st.caption("no image file")


def show_line(slot: Slot, number: int, page_url: str | None) -> None:
    """One line: thumbnail, what it narrates, its state and quality, its own player and page."""
    with st.container(border=True, key=f"board-{slot.kind}-{slot.target_id}"):
        left, middle, right = st.columns([1, 3, 3], vertical_alignment="center")
        with left:
            _thumbnail(slot)
        with middle:
            st.markdown(f"**{slot_name(slot, number)}** · {slot_badge(slot)}")
            st.text(slot.text[:300])  # people's words: plain text
            facts = [labels.quality(slot.status or "", slot.qc_passed, slot.qc_failing, slot.qc_flagged)]
            if slot.duration_seconds is not None:
                facts.append(labels.length(slot.duration_seconds))
            if slot.earlier:
                facts.append(f"{slot.earlier} earlier narration{'s' if slot.earlier > 1 else ''} in the library")
            st.caption(" · ".join(f for f in facts if f != "—"))
        with right:
            if slot.narration_id is None:
                return
            if slot.status == "completed" and page_url:  # st.audio takes an absolute URL (AppTest has none)
                src = urljoin(page_url, audio_path(slot.kind, slot.narration_id))
                st.audio(src, format=MIME.get(slot.output_format or "wav", "audio/wav"))
            st.page_link(
                links.PAGE,
                label=f"{slot.kind.title()} narration #{slot.narration_id}",
                icon=":material/open_in_new:",
                query_params=links.params(slot.kind, slot.narration_id),
            )


def _voice_of_story(board: Board) -> tuple[str | None, str | None, str | None]:
    """The story narration's provider, model and voice, so the scenes narrated from the board sound
    like the story (none: compose's defaults)."""
    if board.story.narration_id is None:
        return None, None, None
    with new_session() as session:
        row = get(session, "story", board.story.narration_id)
        return (row.provider, row.model_backend, row.voice_style) if row is not None else (None, None, None)


def narrate_missing(board: Board, user: SignedIn) -> None:
    """The scenes with nothing to play and nothing on the way, narrated in one action (the same as
    compose's "all scenes": each one a normal submission, priced first against the budget)."""
    missing = board.missing_scenes
    if not missing or not user.can_compose:
        return
    with st.expander(f"Narrate the missing scenes ({len(missing)})"):
        st.caption(
            "Scenes never narrated, or whose narration failed or was cancelled; in the story's voice unless "
            "you pick another."
        )
        provider, model, voice = _voice_of_story(board)
        choice = voice_choice("board-missing", provider=provider, model=model, voice=voice)
        if unavailable := not_set_up(choice, user):
            st.warning(md(unavailable))
        label = submit_label(choice, f"Narrate {len(missing)} missing scene{'s' if len(missing) > 1 else ''}")
        if st.button(label, key="board-missing-submit", disabled=choice.missing_key is not None):
            token = st.session_state.setdefault("board-missing-token", uuid.uuid4().hex)
            template = choice.request(kind="scene", target_id=0, prompt="", user_id=user.user_id)
            try:
                batch = narrate_scenes(board.story_id, replace(template, once_key=token))
            except Refused as refused:
                st.error(md(refused))
            else:
                st.session_state.pop("board-missing-token")
                st.success(md(batch.message))
