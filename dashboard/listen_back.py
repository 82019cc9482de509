"""The listen-back check (workers/engine/listen_back.py) on the pages: compose's "Listen back" box, and what
the narration page says about a narration that was heard back.

The box is off by default, since the check costs money and needs OpenAI; where OpenAI is not set up
it is shown disabled with the reason in its label, so nobody wonders why it cannot be ticked.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from db.settings import get_settings
from workers.engine import catalogue

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


def heard_back(measured: dict[str, Any]) -> str | None:
    """One sentence on the check (the QC JSON's `listen_back`), naming the passages it could not hear
    and why; None for a narration that was not heard back. Flagged passages are in QC's own list."""
    summary = measured.get("listen_back")
    passages = measured.get("passages")
    if not isinstance(summary, dict) or not isinstance(passages, list):
        return None
    max_wer = summary.get("max_wer")
    threshold = f"{round(max_wer * 100)} %" if isinstance(max_wer, int | float) else "the allowed share"
    said = (
        f"Listen-back ({summary.get('model')}): {summary.get('checked')} of {len(passages)} passages heard, "
        f"{summary.get('flagged')} with more than {threshold} of words differing"
    )
    unheard: dict[str, list[str]] = {}
    for number, passage in enumerate(passages, start=1):
        result = passage.get("listen_back") if isinstance(passage, dict) else None
        if isinstance(result, dict) and isinstance(result.get("not_checked"), str):
            unheard.setdefault(result["not_checked"], []).append(str(number))
    for reason, numbers in unheard.items():
        said += f"; {'passage' if len(numbers) == 1 else 'passages'} {', '.join(numbers)} {reason}"
    return said + "."
