"""A project's settings: its fallback voice, and whether its narrations need approval."""

import streamlit as st

from dashboard.choices import voice_picker
from dashboard.plain import md
from dashboard.session import require
from db.engine import new_session
from db.narrations import projects
from db.project_settings import Voice, rules
from workers.service.projects import save_rules

user = require()
st.title("Projects")
with new_session() as session:
    names = {p.id: p.name for p in projects(session)}
if not names:
    st.info("No projects yet: the product creates them.")
    st.stop()
project_id = st.selectbox("Project", list(names), format_func=names.__getitem__)
with new_session() as session:
    current = rules(session, project_id)

st.subheader("Fallback voice")
st.caption(
    "When the voice a narration asked for fails for account reasons (a rejected key, an exhausted quota, "
    "a provider still down after every retry), the narration is made with this voice instead, marked as "
    "such, within the same budget rules. A failure of the text never falls back."
)
use = st.toggle("Use a fallback voice", value=current.fallback is not None, disabled=not user.can_compose)
fallback = None
if use:
    was = current.fallback
    info, model, voice = voice_picker(
        f"fallback-{project_id}",
        provider=was.provider if was else "local",
        model=was.model if was else None,
        voice=was.voice if was else None,
    )
    fallback = Voice(info.id.value, model.id, voice)

st.subheader("Review")
approval = st.toggle(
    "Completed narrations need approval",
    value=current.require_approval,
    disabled=not user.can_compose,
    help="The library then shows which ones wait for someone to listen and approve.",
)
if user.can_compose and st.button("Save", type="primary"):
    st.info(md(save_rules(project_id, fallback, approval, user.user_id)))
