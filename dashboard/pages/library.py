"""Library: every narration, newest first, filtered and paginated on the server; a click on a row opens it."""

from collections.abc import Callable, Mapping
from typing import Any, Literal

import streamlit as st

from dashboard import links
from dashboard.labels import QUALITY_FILTER, REVIEW_FILTER, display_zone
from dashboard.library_table import COLUMNS, ROW_HEIGHT, lines
from dashboard.plain import md
from dashboard.session import require
from dashboard.story_board import PAGE as BOARD_PAGE
from dashboard.story_board import board_params
from dashboard.summary import summary_strip
from db.engine import new_session
from db.library import Filters, filter_options, page
from db.models import CANCELLED, STATES, Provider, Status
from db.settings import get_settings
from db.window import Window
from workers.engine import catalogue
from workers.service.actions import cancel_matching, retry_matching

PAGE_SIZE = 50
SUMMARY_SECONDS = 30
MODELS = sorted({m.id for p in catalogue.CATALOGUE for m in p.models})

user = require()
st.title("Library")
if said := st.session_state.pop("library-said", None):
    st.info(md(said))  # what the last bulk action did
st.fragment(summary_strip, run_every=SUMMARY_SECONDS)()  # the last 24 hours and any alert, kept fresh


def _any(label: str, names: Mapping[int, str] | None = None) -> Callable[[Any], str]:
    """A format_func: None reads "any …", ids read as their names."""
    return lambda value: f"any {label}" if value is None else (names[value] if names else str(value))


with new_session() as session:
    project_id = st.session_state.get("project")
    if project_id is None and (asked := st.query_params.get("project")):
        # A link's first run (the story board's "in the library"): the bound widget is not made yet,
        # and without its project the story the link names would not be among the options.
        project_id = next((i for i, name in filter_options(session).projects.items() if name == asked), None)
    options = filter_options(session, project_id=project_id)

# Each filter lives in the URL too (`/library?status=failed&provider=elevenlabs`): a reload keeps the
# view, and the address can be shared or bookmarked.
URL: Literal["query-params"] = "query-params"
with st.form("filters"):
    search = st.text_input(
        "Search", placeholder="words from the text, a row id (story 12) or a task id", key="q", bind=URL
    )
    a, b, c = st.columns(3)
    status = a.selectbox("Status", [None, *STATES], format_func=_any("status"), key="status", bind=URL)
    provider = b.selectbox("Provider", [None, *Provider], format_func=_any("provider"), key="provider", bind=URL)
    model = c.selectbox("Model", [None, *MODELS], format_func=_any("model"), key="model", bind=URL)
    a, b, c = st.columns(3)
    a.selectbox(
        "Project", [None, *options.projects], format_func=_any("project", options.projects), key="project", bind=URL
    )
    story_id = b.selectbox(
        "Story",
        [None, *options.stories],
        format_func=_any("story", options.stories),
        key="story",
        bind=URL,
        disabled=project_id is None,
        help=None if project_id is not None else "Pick a project and Apply: its stories are listed here.",
    )
    username = c.text_input("By", placeholder="a username", key="by", bind=URL)
    a, b, c = st.columns(3)
    tag = a.selectbox("Tag", [None, *options.tags], format_func=_any("tag"), key="tag", bind=URL)
    theme = b.selectbox("Theme", [None, *options.themes], format_func=_any("theme"), key="theme", bind=URL)
    dates = c.date_input("Created between", value=[], format="YYYY-MM-DD", key="created", bind=URL)
    quality = a.selectbox(
        "Quality", list(QUALITY_FILTER), format_func=QUALITY_FILTER.__getitem__, key="quality", bind=URL
    )
    review = b.selectbox("Review", list(REVIEW_FILTER), format_func=REVIEW_FILTER.__getitem__, key="review", bind=URL)
    applied = st.form_submit_button("Apply")

since = until = None
if isinstance(dates, tuple) and len(dates) == 2:
    days = Window.calendar_days(dates[0], dates[1], display_zone().key)  # the days the table's times are on
    since, until = days.start, days.end
filters = Filters(
    status=status,
    provider=provider,
    model=model,
    project_id=project_id,
    story_id=story_id if story_id in options.stories else None,
    username=username or None,
    tag=tag,
    theme=theme,
    search=search or None,
    since=since,
    until=until,
    quality=quality,
    review=review,
)
if applied or st.session_state.get("library-filters") != filters:
    st.session_state["library-filters"] = filters
    st.session_state["library-page"] = 1  # new filters start at the newest

number = int(st.session_state.get("library-page", 1))
with new_session() as session:
    rows, total = page(session, filters, number=number, size=PAGE_SIZE)
if not rows:
    st.info("No narration matches." if filters != Filters() else "Nothing yet.")
    st.stop()

pages = max(1, -(-total // PAGE_SIZE))
st.caption("A click on a narration's row opens it: hear it, see its detail and act on it.")
st.caption(f"{total:,} narration{'' if total == 1 else 's'} · page {number} of {pages}")
picked = st.dataframe(
    lines(rows, display_zone()),
    column_config=COLUMNS,
    row_height=ROW_HEIGHT,
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="single-cell",
    key="library-table",
)
back, forward = st.columns(2)
if back.button("Newer", disabled=number <= 1):
    st.session_state["library-page"] = number - 1
    st.rerun()
if forward.button("Older", disabled=number >= pages):
    st.session_state["library-page"] = number + 1
    st.rerun()

if user.can_compose and filters.status in (Status.FAILED, CANCELLED, Status.QUEUED, Status.PROCESSING):
    retrying = filters.status in (Status.FAILED, CANCELLED)
    verb = "Retry" if retrying else "Cancel"
    most = get_settings().max_bulk_rows
    count = f"{min(total, most):,}{' newest' if total > most else ''}"
    with st.popover(f"{verb} all {count} that match", icon=":material/replay:" if retrying else ":material/block:"):
        st.write(
            f"{verb} every {filters.status} narration these filters show (all pages, not only this one)?"
            + (
                " Chunks already done are not paid for twice."
                if retrying
                else " Running ones stop before their next chunk."
            )
        )
        if st.button(f"{verb} them", type="primary", key="library-bulk"):
            st.session_state["library-said"] = (retry_matching if retrying else cancel_matching)(filters, user)
            st.rerun()

cells = picked.selection.cells if picked else []
if cells:
    (row_number, column), *_ = cells
    target = rows[row_number]
    del st.session_state["library-table"]  # coming back to the library must not reopen it
    if column == "board" and target.story_id is not None:  # its story's board
        st.switch_page(BOARD_PAGE, query_params=board_params(target.story_id))
    st.switch_page(links.PAGE, query_params=links.params(target.kind, target.id))  # any other cell: the narration
