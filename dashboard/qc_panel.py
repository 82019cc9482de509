"""Quality on the Passages tab: the per-passage chart (a click plays that passage in the full player)
and "Re-narrate the flagged passages", which says how many and what they cost before the click.

What is offered is decided by `offer`, a function of the loaded detail, so tests check it without a
browser; the chart itself is built in `dashboard.qc_chart`.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from dashboard import qc_chart
from dashboard.player import play_from, report
from dashboard.qc_chart import PassagePoint
from dashboard.views import NarrationDetail, starts
from workers.engine import catalogue
from workers.service import actions
from workers.service.roles import SignedIn


@dataclass(frozen=True)
class Offer:
    """A redo of the flagged passages, as the page offers it."""

    indexes: tuple[int, ...]
    """The flagged passages, from 0 (the Passages table numbers them from 1)."""
    characters: int
    cost_usd: float | None
    """At the model's list price; None when the catalogue does not price this model."""

    @property
    def label(self) -> str:
        count = len(self.indexes)
        return f"Re-narrate the {count} flagged passage{'' if count == 1 else 's'}"

    @property
    def sentence(self) -> str:
        """What the click does and costs, said before it."""
        which = ", ".join(str(i + 1) for i in self.indexes)
        cost = (
            "cost unknown (this model has no list price here)"
            if self.cost_usd is None
            else ("no charge" if self.cost_usd == 0 else f"about ${self.cost_usd:.4f}")
        )
        return (
            f"Passage{'s' if len(self.indexes) > 1 else ''} {which}: {self.characters:,} characters, {cost}. "
            "The other passages are reused; the narration stays completed and plays as it is until the new "
            "audio is ready."
        )


def offer(detail: NarrationDetail, passages: list[PassagePoint]) -> Offer | None:
    """The redo to offer: only on a completed narration with flagged passages and no redo in flight."""
    flagged = tuple(p.passage - 1 for p in passages if p.flags)
    if detail.status != "completed" or detail.redo_passages or not flagged:
        return None
    characters = sum(len(detail.chunks[i].text) for i in flagged)
    model = catalogue.model(detail.provider, detail.model)
    return Offer(flagged, characters, catalogue.estimated_cost_usd(model, characters) if model else None)


def _seek(detail: NarrationDetail, passages: list[PassagePoint], key: str) -> None:
    """Chart callback: the picked passage plays in the full player and is the one the tab shows below."""
    number = qc_chart.picked(st.session_state[key].selection)
    point = next((p for p in passages if p.passage == number), None)
    if point is None:
        return
    st.session_state[f"passage-{detail.kind}-{detail.row_id}"] = point.passage
    if detail.status == "completed" and point.starts_at is not None:
        play_from(detail.kind, detail.row_id, point.starts_at)


def quality_panel(detail: NarrationDetail, user: SignedIn) -> None:
    """The chart and the action; nothing before the narration is measured."""
    passages = qc_chart.points(detail.metadata, starts(detail))
    if not passages:
        return
    key = f"qc-chart-{detail.kind}-{detail.row_id}"
    flagged = sum(1 for p in passages if p.flags)
    st.caption(
        "Loudness and speaking rate by passage"
        + (f": {flagged} flagged (red diamonds; point at one for why)." if flagged else ": none flagged.")
        + " Click a passage to play it from its start."
    )
    st.altair_chart(
        qc_chart.chart(passages),
        key=key,
        on_select=lambda: _seek(detail, passages, key),
        selection_mode=qc_chart.PICK,
        width="stretch",
    )
    if not user.can_compose:
        return
    redo = offer(detail, passages)
    if redo is None:
        if flagged and detail.redo_passages:
            st.caption("Re-narrating the flagged passages is offered again once the redo in flight has ended.")
        return
    st.caption(redo.sentence)
    if st.button(redo.label, key=f"redo-flagged-{detail.kind}-{detail.row_id}", icon=":material/replay:"):
        report(f"{detail.kind}-{detail.row_id}", actions.redo_passages(detail.kind, detail.row_id, redo.indexes, user))
