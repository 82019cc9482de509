"""The sign-in form, shown by the entry script instead of any page until someone signs in."""

from __future__ import annotations

import streamlit as st

from dashboard.session import KEY
from workers.signin import SignInRefused, sign_in


def sign_in_form() -> None:
    st.title("Narration Desk")
    st.caption("Sign in with your account of the storytelling app.")
    with st.form("sign-in"):
        username = st.text_input("Username")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            st.session_state[KEY] = sign_in(username, password, client=st.context.ip_address or "unknown")
        except SignInRefused as refused:
            st.error(str(refused))
        else:
            st.rerun()
