"""What the compose form just submitted: the card under the form shows it, and only while the form
still shows the same story or scene in the same mode, so it never shows a narration of something else.

Kept in a module, not in the page: the page's script runs afresh on every click, and a class defined
there would be a new class each time (the kept value would no longer be an instance of it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

import streamlit as st

from db.narrations import Kind
from workers.service.submit import Refused, Request, submit

LAST = "compose-last"
SAID = "compose-said"


@dataclass(frozen=True)
class Last:
    form: tuple[str, int]
    """("story", story id), ("scene", image id), or ("scenes", story id) for "Narrate all scenes"."""
    about: str
    """What it narrates, for people: the story or scene, as the form showed it."""
    kind: Kind
    rows: list[int]


def token(name: str) -> str:
    """This form's submit token: a double-click sends the same one twice, and only one counts."""
    return str(st.session_state.setdefault(name, uuid.uuid4().hex))


def submit_form(request: Request, form: tuple[str, int], about: str, replace_key: str) -> None:
    """Submit, and keep what to say for the page's next run. An accepted submit unticks "Replace"
    (forgets its box): every replacement is asked for afresh, never carried over to the next submit."""
    try:
        done = submit(replace(request, once_key=token("compose_token")))
    except Refused as refused:
        st.session_state[SAID] = ("error", str(refused))
        return
    st.session_state.pop("compose_token")  # the next submit is a new one
    st.session_state.pop(replace_key, None)
    st.session_state[LAST] = Last(form, about, done.kind, [done.row_id])
    st.session_state[SAID] = ("warning" if done.waiting_for_redis else "success", done.message)


def remember_batch(story_id: int, title: str, rows: list[int]) -> None:
    """After "Narrate all scenes": the card lists these; with none new, it shows nothing older instead."""
    if rows:
        st.session_state[LAST] = Last(("scenes", story_id), f"every scene of “{title}”", "scene", rows)
    else:
        st.session_state.pop(LAST, None)


def shown(form: tuple[str, int], story_id: int) -> Last | None:
    """What the form submitted, if it still shows the same thing; forgotten as soon as it does not."""
    last = st.session_state.get(LAST)
    if not isinstance(last, Last):
        return None
    if last.form == form or (form[0] == "scene" and last.form == ("scenes", story_id)):
        return last
    del st.session_state[LAST]  # another story, scene or mode: not this form's narration any more
    return None
