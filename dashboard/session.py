"""Who is signed in to this browser session, and the guard every page calls first.

A password sign-in is kept across reloads and new tabs by a cookie (`workers/service/sessions.py`); single
sign-on keeps itself through Streamlit's own cookie. Either way the tab checks its sign-in again on
every script run (each click is one) and, while idle, every `sessions.RECHECK_SECONDS` (`watch`).
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import streamlit as st

from dashboard import deep_link
from dashboard.plain import md
from workers.service import sessions
from workers.service.roles import SignedIn

KEY = "signed_in"
STORED = "stored-session"  # this tab's session, to end it on sign-out
CLAIM = "session-claim"  # until the page has traded it for the cookie
MARK = "password-mark"  # the password the tab signed in with, for tabs without a stored session
CLEAR = "session-clear"  # after a sign-out, until the page has cleared the cookie
ONCE = "once"  # CLEAR without Redis to say when the frame has loaded: it is shown once


def _cookie() -> str | None:
    """The session cookie this page load came with (AppTest's stand-in client has none), under the
    name in force for how the page was reached."""
    secure = sessions.cookie_secure(urlsplit(st.context.url or "").scheme)
    value = st.context.cookies.get(sessions.cookie_name(secure))
    return value if isinstance(value, str) else None


def current() -> SignedIn | None:
    """The signed-in user as the account is now: this tab's, checked again, else resumed from the
    browser's session cookie. A tab whose account changed role carries on with the new role; one
    whose session ended or whose account may no longer sign in is signed out."""
    user = st.session_state.get(KEY)
    if isinstance(user, SignedIn):
        return _checked(user)
    token = _cookie()
    resumed = sessions.resume(token)
    if resumed is not None:
        st.session_state[KEY] = resumed
        st.session_state[STORED] = token
    return resumed


def _checked(user: SignedIn) -> SignedIn | None:
    if MARK not in st.session_state:
        # First check of this tab (moments after its sign-in): the password it holds from now on.
        st.session_state[MARK] = sessions.password_mark(user.user_id)
    token = st.session_state.get(STORED)
    now = sessions.recheck(user, token=token, mark=st.session_state[MARK])
    if now is None:
        _forget()
    elif now != user:
        st.session_state[KEY] = now
    return now


def _forget() -> None:
    """Sign this tab out; if it held a stored session, clear the browser's cookie too."""
    st.session_state.pop(KEY, None)
    st.session_state.pop(CLAIM, None)
    st.session_state.pop(MARK, None)
    token = st.session_state.pop(STORED, None) or _cookie()
    sessions.end(token)
    if token:
        st.session_state[CLEAR] = sessions.clearing() or ONCE


def signed_in(user: SignedIn) -> None:
    """After a password sign-in: this tab is signed in, and the browser will be once the cookie is set."""
    st.session_state.pop(CLEAR, None)  # the new cookie must not be cleared by the last sign-out's frame
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


def clear_cookie() -> None:
    """After a sign-out, load the route that expires the cookie (a script cannot), until it has."""
    claim = st.session_state.get(CLEAR)
    if claim is None:
        return
    if claim == ONCE:
        st.session_state.pop(CLEAR)
        st.iframe(sessions.END_PATH, height=1)
    elif sessions.clearing_pending(claim):
        st.iframe(sessions.END_PATH + "?" + urlencode({"claim": claim}), height=1)
    else:
        st.session_state.pop(CLEAR)


def sign_out() -> None:
    """Button callback: runs before the next script run, which then shows the sign-in form."""
    _forget()
    if st.user.get("is_logged_in"):
        st.logout()  # signed in by single sign-on: end that session too


@st.fragment(run_every=sessions.RECHECK_SECONDS)
def watch(user: SignedIn) -> None:
    """While the tab sits idle, check the sign-in again; when the answer changed (signed out, or
    another role), run the whole page again so it shows the sign-in form or the new role's pages."""
    if current() != user:
        st.rerun()


def require(*, compose: bool = False, superuser: bool = False) -> SignedIn:
    """The signed-in user, or stop the page with a sentence (pages are reachable by URL too)."""
    user = current()
    if user is None:
        deep_link.to_sign_in()  # the form, then this page again
    if (compose and not user.can_compose) or (superuser and not user.is_superuser):
        st.error(f"Your account ({md(user.username)}, {user.role}) may not use this page. Ask an administrator.")
        st.stop()
    return user
