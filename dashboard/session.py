"""Who is signed in to this browser session, and the guard every page calls first.

A password sign-in is kept across reloads and new tabs by a cookie (`workers/sessions.py`); single
sign-on keeps itself through Streamlit's own cookie.
"""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from workers import sessions
from workers.signin import SignedIn

KEY = "signed_in"
STORED = "stored-session"  # this tab's session, to end it on sign-out
CLAIM = "session-claim"  # until the page has traded it for the cookie


def _cookie() -> str | None:
    """The session cookie this page load came with (AppTest's stand-in client has none)."""
    value = st.context.cookies.get(sessions.COOKIE)
    return value if isinstance(value, str) else None


def current() -> SignedIn | None:
    """The signed-in user: from this tab's state, else resumed from the browser's session cookie."""
    user = st.session_state.get(KEY)
    if isinstance(user, SignedIn):
        return user
    token = _cookie()
    resumed = sessions.resume(token)
    if resumed is not None:
        st.session_state[KEY] = resumed
        st.session_state[STORED] = token
    return resumed


def signed_in(user: SignedIn) -> None:
    """After a password sign-in: this tab is signed in, and the browser will be once the cookie is set."""
    st.session_state[KEY] = user
    started = sessions.start(user)
    if started is not None:
        st.session_state[STORED] = started.token
        st.session_state[CLAIM] = started.claim


def set_cookie() -> None:
    """Load the route that sets the session cookie, on every run until it has (a rerun right after
    sign-in could otherwise drop the frame before it loaded)."""
    claim = st.session_state.get(CLAIM)
    if claim is None:
        return
    if sessions.pending(claim):
        st.iframe(sessions.SESSION_PATH + "?" + urlencode({"claim": claim}), height=1)
    else:
        st.session_state.pop(CLAIM)


def sign_out() -> None:
    """Button callback: runs before the next script run, which then shows the sign-in form."""
    st.session_state.pop(KEY, None)
    st.session_state.pop(CLAIM, None)
    sessions.end(st.session_state.pop(STORED, None) or _cookie())
    if st.user.get("is_logged_in"):
        st.logout()  # signed in by single sign-on: end that session too


def require(*, compose: bool = False, superuser: bool = False) -> SignedIn:
    """The signed-in user, or stop the page with a sentence (pages are reachable by URL too)."""
    user = current()
    if user is None:
        st.warning("Sign in first.")
        st.stop()
    if (compose and not user.can_compose) or (superuser and not user.is_superuser):
        st.error(f"Your account ({user.username}, {user.role}) may not use this page. Ask an administrator.")
        st.stop()
    return user
