"""A link opened while signed out (…/narration?kind=scene&id=3) is opened after sign-in, instead of
the first page.

Signed out, the entry script shows the form at every page's address (`PATHS`) and keeps the link.
On a server no session has yet listed pages for, Streamlit runs the linked page's file on its own;
its guard (`session.require`) keeps the link and sends the browser to the entry script's form.
Once signed in, the entry script opens the kept page with its parameters.
"""

from __future__ import annotations

from typing import NoReturn
from urllib.parse import urlsplit

import streamlit as st
from streamlit.navigation.page import StreamlitPage

AFTER = "after-sign-in"
"""(the page's URL path, its query parameters) of the link that was opened signed out."""
PATHS = ("", "compose", "library", "board", "operations", "lexicon", "projects", "narration")
"""The addresses of the entry page and of every page in pages/: signed out, each shows the form."""
ASKED = "sign-in-asked"
"""Set when a page's guard sent the browser to the form (its address may be unknown, as in AppTest)."""


def keep() -> None:
    """Keep the address this run was opened at (the first one, until someone signs in)."""
    if AFTER not in st.session_state:
        path = urlsplit(st.context.url or "").path.rstrip("/").rsplit("/", 1)[-1]
        st.session_state[AFTER] = (path, st.query_params.to_dict())


def to_sign_in() -> NoReturn:
    """From a page opened signed out: keep its link, then show the sign-in form (the entry script)."""
    keep()
    st.session_state[ASKED] = True
    st.switch_page("app.py")


def asked() -> bool:
    """Whether the kept link named a page (the form then says why it shows instead)."""
    path, _ = st.session_state.get(AFTER, ("", {}))
    return bool(path) or bool(st.session_state.get(ASKED))


def follow(pages: list[StreamlitPage]) -> None:
    """Right after sign-in, open the page the link named, with its parameters. Only one of the
    pages this person may open: the link is matched against them, never followed as an address."""
    path, params = st.session_state.pop(AFTER, ("", {}))
    st.session_state.pop(ASKED, None)
    target = next((p for p in pages if path and p.url_path == path), None)
    if target is not None:
        st.switch_page(target, query_params=params)
