"""One narration by link (/narration?kind=story&id=12): its player, its detail and what can be done to it."""

import streamlit as st

from dashboard.detail import narration_detail
from dashboard.links import BadLink, parse
from dashboard.plain import md
from dashboard.player import narration_card
from dashboard.session import require
from dashboard.story_board import PAGE as BOARD_PAGE
from dashboard.story_board import board_params
from db.engine import new_session
from db.narrations import story_of

user = require()
st.page_link("pages/library.py", label="Back to the library", icon=":material/arrow_back:")
try:
    kind, row_id = parse(st.query_params.to_dict())
except BadLink as problem:
    st.error(md(problem))
    st.stop()
st.title(f"{kind.title()} narration #{row_id}")
with new_session() as session:
    story = story_of(session, kind, row_id)
if story is not None:
    st.page_link(
        BOARD_PAGE, label="Its story's board", icon=":material/view_agenda:", query_params=board_params(story.id)
    )
narration_card(kind, row_id, user=user, full=True)
narration_detail(kind, row_id, user=user)
