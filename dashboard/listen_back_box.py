"""The "Listen back" box of compose: ask for the listen-back check (workers/listen_back.py) on a narration.

Off by default, since it costs money and needs OpenAI; where OpenAI is not set up the box is shown
disabled with the reason in its label, so nobody wonders why it cannot be ticked.
"""

from __future__ import annotations

import streamlit as st

from db.settings import get_settings
from workers import catalogue

LABEL = "Listen back"


def listen_back_box(key: str) -> bool:
    """Render the box; True when the check is asked for (never when it cannot run)."""
    settings = get_settings()
    openai = catalogue.provider("openai")
    if openai is None or catalogue.missing_key(openai, settings):
        st.checkbox(
            f"{LABEL} (needs OpenAI, which is not set up on this desk; ask an administrator)",
            value=False,
            disabled=True,
            key=f"{key}-listen-back-off",
        )
        return False
    per_hour = catalogue.TRANSCRIPTION_USD_PER_MINUTE[settings.listen_back_model] * 60
    return st.checkbox(
        LABEL,
        value=False,
        key=f"{key}-listen-back",
        help=(
            f"After synthesis, OpenAI's {settings.listen_back_model} transcribes every passage (about "
            f"${per_hour:.2f} per hour of audio, in the estimate), and a passage where more than "
            f"{settings.listen_back_max_wer:.0%} of the words differ from its text is flagged with those words."
        ),
    )
