"""The month's estimated spend on paid voices against MONTHLY_BUDGET_USD.

The same figure as the Operations page's month to date (`db.monitoring.billed_characters` priced by
`workers.engine.costs`), so the alert, the compose warning and the chart never disagree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

from db import monitoring
from db.engine import database_url, new_session
from db.narrations import now
from db.settings import Settings
from db.window import Window
from workers.engine.costs import costs


@dataclass(frozen=True)
class Budget:
    limit_usd: float
    spent_usd: float
    """Estimated, at the catalogue's list prices, this calendar month in the display time zone."""

    @property
    def fraction(self) -> float:
        return self.spent_usd / self.limit_usd

    def after(self, more_usd: float) -> float:
        """The share of the budget used once `more_usd` is spent too."""
        return (self.spent_usd + more_usd) / self.limit_usd

    def before_submit(self, more_usd: float) -> str:
        """What compose says beside a paid estimate."""
        said = (
            f"This month so far: about ${self.spent_usd:,.2f} of the ${self.limit_usd:,.2f} budget; "
            f"{self.after(more_usd):.0%} with this narration."
        )
        if self.after(more_usd) > 1:
            said += " That passes the budget: submit only if it cannot wait, or pick the local voice (free)."
        return said


def refusal(settings: Settings, more_usd: float) -> str | None:
    """Why a paid submission costing about `more_usd` is refused, or None: only with
    REFUSE_OVER_BUDGET on and a budget set, and only when it would take the month past it."""
    budget = this_month(settings) if settings.refuse_over_budget and more_usd > 0 else None
    if budget is None or budget.after(more_usd) <= 1:
        return None
    return (
        f"This would take the month's estimated spend to about ${budget.spent_usd + more_usd:,.2f}, past the "
        f"${budget.limit_usd:,.2f} budget (about ${budget.spent_usd:,.2f} so far), and paid narrations over the "
        "budget are refused. Pick the local voice (free), or ask whoever runs the desk to raise MONTHLY_BUDGET_USD."
    )


SPEND_SECONDS = 60
"""How long one reading of the month's spend serves: every page's alert banner asks for it."""


def this_month(settings: Settings) -> Budget | None:
    """The budget and what this month has cost so far (read at most once a minute per process);
    None when no budget is set."""
    if settings.monthly_budget_usd is None:
        return None
    reading = int(time.time() // SPEND_SECONDS)
    return Budget(settings.monthly_budget_usd, _spent(database_url(), settings.display_time_zone or "UTC", reading))


@lru_cache(maxsize=4)
def _spent(database: str, tz: str, reading: int) -> float:
    """The month's estimated spend; the arguments only key the cache (a new `reading` each minute)."""
    window = Window.month_to_date(now=now(), tz=tz)
    with new_session() as session:
        billed = monitoring.billed_characters(session, window, monitoring.HistoryFilters())
    return costs(billed).total_usd
