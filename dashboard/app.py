"""Entry script: the sign-in form, or the navigation for who is signed in; each page is its own file."""

import streamlit as st

from dashboard import deep_link
from dashboard.plain import md
from dashboard.session import clear_cookie, current, set_cookie, sign_out, watch
from dashboard.sign_in import from_single_sign_on, sign_in_form

st.set_page_config(page_title="Narration Desk", page_icon=":material/record_voice_over:", layout="wide")

from_single_sign_on()
user = current()
if user is None:
    clear_cookie()
    # The form at every page's address, listed nowhere: a link to any page shows the form (and opens
    # after sign-in), and the sidebar does not list the files of pages/ before anyone signed in.
    forms = [st.Page(sign_in_form, title="Sign in", url_path=path, default=not path) for path in deep_link.PATHS]
    st.navigation(forms, position="hidden").run()
    st.stop()

pages = [
    st.Page("pages/library.py", title="Library", icon=":material/headphones:"),
    st.Page("pages/board.py", title="Story board", icon=":material/view_agenda:"),
    st.Page("pages/operations.py", title="Operations", icon=":material/monitoring:"),
    st.Page("pages/lexicon.py", title="Lexicon", icon=":material/record_voice_over:"),
    st.Page("pages/projects.py", title="Projects", icon=":material/tune:"),
    st.Page("pages/narration.py", title="Narration", icon=":material/graphic_eq:", visibility="hidden"),
]
if user.can_compose:
    pages.insert(0, st.Page("pages/compose.py", title="Compose", icon=":material/edit_note:", default=True))
with st.sidebar:
    st.caption(f"Signed in as **{md(user.username)}** ({user.role})")
    st.button("Sign out", key="sign-out", on_click=sign_out)
    set_cookie()
    watch(user)  # an idle tab notices a sign-out elsewhere, deactivation, a new role or password

shown = st.navigation(pages)
deep_link.follow(pages)  # a link opened while signed out: its page now, not the first one
shown.run()
