"""Entry script: only builds the navigation; each page is its own file under `pages/`."""

import streamlit as st

st.set_page_config(page_title="Narration Desk", page_icon=":material/record_voice_over:", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/compose.py", title="Compose", icon=":material/edit_note:", default=True),
        st.Page("pages/recent.py", title="Recent narrations", icon=":material/headphones:"),
    ]
)
navigation.run()
