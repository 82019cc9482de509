"""What the characters billed cost: the catalogue's list prices applied to the SQL sums.

Prices belong to the catalogue (workers), and `db` must not import workers, so the database
returns characters per day, provider and model, and the money is worked out here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from db.monitoring import Billed
from workers.engine.catalogue import estimated_cost_usd, model


@dataclass(frozen=True)
class DailyCost:
    day: datetime
    provider: str
    characters: int
    usd: float


@dataclass(frozen=True)
class Costs:
    daily: list[DailyCost]
    unpriced_models: list[str]
    """`provider/model` pairs the catalogue has no price for: their characters count, at no cost."""

    @property
    def total_usd(self) -> float:
        return sum(c.usd for c in self.daily)

    @property
    def total_characters(self) -> int:
        return sum(c.characters for c in self.daily)


def costs(billed: list[Billed]) -> Costs:
    """Per day and provider, the characters billed and their estimated cost in USD."""
    characters: dict[tuple[datetime, str], int] = defaultdict(int)
    usd: dict[tuple[datetime, str], float] = defaultdict(float)
    unpriced: set[str] = set()
    for row in billed:
        key = (row.day, row.provider)
        characters[key] += row.characters
        priced = model(row.provider, row.model)
        if priced is None:
            unpriced.add(f"{row.provider}/{row.model or '(none)'}")
        else:
            usd[key] += estimated_cost_usd(priced, row.characters)
    daily = [DailyCost(day, provider, count, usd[day, provider]) for (day, provider), count in characters.items()]
    return Costs(sorted(daily, key=lambda c: (c.day, c.provider)), sorted(unpriced))
