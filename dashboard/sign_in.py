"""The sign-in form, shown by the entry script instead of any page until someone signs in.

Username and password always work; where an OIDC provider is configured for Streamlit (an `[auth]`
section in `.streamlit/secrets.toml`), single sign-on is offered too and matched to `auth_user` by
the verified email address (workers/service/sign_in.py says which claims are accepted).
"""

from __future__ import annotations

import streamlit as st

from dashboard import deep_link
from dashboard.plain import md
from dashboard.session import KEY, signed_in
from workers.service.sign_in import SignInRefused, sign_in, sign_in_verified
from workers.service.throttle import client_address


def single_sign_on_configured() -> bool:
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets file at all
        return False


def from_single_sign_on() -> None:
    """After `st.login` came back: sign the verified address in, or say why not (and log it out)."""
    if KEY in st.session_state or not st.user.get("is_logged_in"):
        return
    try:
        st.session_state[KEY] = sign_in_verified(st.user.to_dict())
    except SignInRefused as refused:
        st.session_state["sso-refused"] = str(refused)
        st.logout()


def _client() -> str:
    """Whom the throttle counts. Every X-Forwarded-For line, joined: a proxy may add its own line
    after one the client forged, and only the last entries are the proxies' word."""
    forwarded = ", ".join(st.context.headers.get_all("X-Forwarded-For"))
    return client_address(st.context.ip_address, forwarded or None)


def sign_in_form() -> None:
    deep_link.keep()
    st.title("Narration Desk")
    st.caption("Sign in with your account of the storytelling app.")
    if deep_link.asked():
        st.warning("Sign in first.")  # a page was opened signed out; it opens once signed in
    if refused := st.session_state.pop("sso-refused", None):
        st.error(md(refused))
    with st.form("sign-in"):
        username = st.text_input("Username")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if single_sign_on_configured():
        st.button("Sign in with single sign-on", icon=":material/key:", on_click=st.login)
    if submitted:
        try:
            user = sign_in(username, password, client=_client())
        except SignInRefused as refused:
            st.error(md(refused))
        else:
            signed_in(user)
            st.rerun()
