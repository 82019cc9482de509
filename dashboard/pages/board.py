"""A story's board (/board?id=12): the story narration, then every scene image in order, each
with its state, quality and player; "play all"; and the missing scenes narrated in one action."""

import streamlit as st

from dashboard.plain import md
from dashboard.session import require
from dashboard.story_board import board_params, library_params, narrate_missing, show_line, show_play_all
from db.board import story_board
from db.engine import new_session
from db.narrations import projects, stories

user = require()
raw = st.query_params.get("id", "")
if not (raw.isdigit() and len(raw) <= 18):
    st.title("Story board")
    with new_session() as session:
        names = {p.id: p.name for p in projects(session)}
        project = st.selectbox(
            "Project", [None, *names], format_func=lambda p: "pick a project" if p is None else names[p]
        )
        titles = {s.id: s.title for s in stories(session, project_id=project)} if project is not None else {}
    story = st.selectbox("Story", list(titles), format_func=titles.__getitem__, index=None, disabled=not titles)
    if story is not None:
        st.query_params.from_dict(board_params(story))
        st.rerun()
    st.stop()

with new_session() as session:
    board = story_board(session, int(raw))
if board is None:
    st.error(f"Story #{raw} does not exist (it may have been deleted). Pick another story:")
    st.page_link("pages/board.py", label="All stories", icon=":material/arrow_back:")
    st.stop()

st.page_link(
    "pages/library.py",
    label="This story in the library",
    icon=":material/arrow_back:",
    query_params=library_params(board),
)
st.title(md(board.title))  # people's words: escaped, as Markdown would otherwise read them
st.caption(md(f"{board.project or 'No project'} · {len(board.scenes)} scene images"))
if missing := board.missing_scenes:
    st.warning(
        f"{len(missing)} of {len(board.scenes)} scenes have no narration to play: never narrated, failed or cancelled."
    )
show_play_all(board, st.context.url)
narrate_missing(board, user)
for number, slot in enumerate(board.slots):
    show_line(slot, number, st.context.url)
