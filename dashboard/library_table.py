"""The library's table: one line per narration in the words staff use, in columns that fit the page.

Apart from the page so a test reads the same lines without a browser; the names and times come from
`dashboard.labels`, as on every other page.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from dashboard import labels
from db.library import LibraryRow

ROW_HEIGHT = 35
"""Pixels per row (Streamlit's default, said here so a browser test can click a row by position)."""
COLUMNS: dict[str, Any] = {
    "narration": st.column_config.TextColumn("narration", width=78, help="Open it with a click on its row"),
    "narrates": st.column_config.TextColumn("narrates", width=94, help="The story, or the scene and its story"),
    "status": st.column_config.TextColumn(
        "status", width=96, help="Queued, processing, failed, cancelled; a completed one's review where it has one"
    ),
    "quality": st.column_config.TextColumn(
        "quality",
        width=140,
        help="Quality checks: ✓ passes, or ✗ and the check it fails; how many passages are flagged; — not measured",
    ),
    "voice": st.column_config.TextColumn("voice", width=100, help="Voice · provider and model"),
    "length": st.column_config.TextColumn("length", width=55),
    "created": st.column_config.TextColumn("created", width=135),
    "by": st.column_config.TextColumn("by", width=56),
    "board": st.column_config.TextColumn("board", width=52, help="Open its story's board with a click"),
}
"""Fixed widths that add up to 806 px, less than the table gets in a 1280 px window beside the sidebar
(about 820 px, less a vertical scrollbar), so it never scrolls sideways; a long title is cut in its
cell and read whole on the narration's page."""


BOARD = "board"
"""The board column's text where the row's story exists: a click on it opens the story's board."""


def narrates(row: LibraryRow) -> str:
    """What it narrates: the story's title, or the scene's caption and the story it is in."""
    if row.kind == "story":
        return row.title or "a story that was deleted"
    caption = row.title or "a scene"
    return f"{caption} in “{row.story_title}”" if row.story_title else caption


def voice(row: LibraryRow) -> str:
    """The voice by name, then provider and model as compose lists them: "Rachel · ElevenLabs Flash v2"."""
    provider = labels.provider(row.provider).split(" (")[0]  # "Local voice (Piper, offline)" → "Local voice"
    return f"{labels.voice(row.provider, row.voice)} · {provider} {labels.model(row.provider, row.model)}"


def lines(rows: list[LibraryRow], zone: ZoneInfo) -> list[dict[str, str]]:
    """The table's rows, in the order of COLUMNS."""
    return [
        {
            "narration": f"{row.kind} #{row.id}",
            "narrates": narrates(row),
            "status": labels.state_reviewed(row.status, row.cancelled_at, row.review),
            "quality": labels.quality(row.status, row.qc_passed, row.qc_failing, row.qc_flagged),
            "voice": voice(row),
            "length": labels.length(row.duration_seconds),
            "created": labels.when(row.created_at, zone),
            "by": row.username or "—",
            "board": BOARD if row.story_id is not None else "",
        }
        for row in rows
    ]
