"""Who is signed in to this browser session, and the guard every page calls first."""

from __future__ import annotations

import streamlit as st

from workers.signin import SignedIn

KEY = "signed_in"


def current() -> SignedIn | None:
    user = st.session_state.get(KEY)
    return user if isinstance(user, SignedIn) else None


def sign_out() -> None:
    """Button callback: runs before the next script run, which then shows the sign-in form."""
    st.session_state.pop(KEY, None)
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
