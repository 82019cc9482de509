"""Verdicts at their edges: act exactly where the alert fires, watch from half its threshold."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.settings import Settings
from workers.engine.budget import Budget
from workers.operations import verdicts
from workers.operations.health import Storage
from workers.operations.verdicts import Verdict

HEALTHY, WATCH, ACT = Verdict.HEALTHY, Verdict.WATCH, Verdict.ACT
SETTINGS = Settings(alert_failure_rate=0.2, alert_failure_min_jobs=5, alert_queue_age_seconds=600)


@pytest.mark.parametrize(
    ("value", "expected"), [(0, HEALTHY), (4.99, HEALTHY), (5, WATCH), (9.99, WATCH), (10, ACT), (50, ACT)]
)
def test_against_a_threshold(value: float, expected: Verdict) -> None:
    assert verdicts.against(value, 10) is expected


@pytest.mark.parametrize(
    ("failed", "finished", "expected"),
    [
        (0, 0, HEALTHY),  # nothing finished: nothing to judge
        (0, 100, HEALTHY),
        (9, 100, HEALTHY),
        (10, 100, WATCH),  # half of ALERT_FAILURE_RATE
        (19, 100, WATCH),
        (20, 100, ACT),  # the alert's own threshold
        (1, 5, ACT),
        (1, 4, WATCH),  # 25 %, but fewer than ALERT_FAILURE_MIN_JOBS: the alert does not fire either
    ],
)
def test_failure_rate(failed: int, finished: int, expected: Verdict) -> None:
    assert verdicts.failure_rate(failed, finished, SETTINGS) is expected


@pytest.mark.parametrize(
    ("seconds", "expected"), [(None, HEALTHY), (299, HEALTHY), (300, WATCH), (599, WATCH), (600, ACT)]
)
def test_queue_age(seconds: int | None, expected: Verdict) -> None:
    age = None if seconds is None else timedelta(seconds=seconds)
    assert verdicts.queue_age(age, SETTINGS) is expected


def test_storage_and_budget() -> None:
    settings = Settings(alert_storage_fraction=0.9, alert_budget_fraction=0.8)
    assert [verdicts.storage(Storage(used, 0, 1000), settings) for used in (449, 450, 899, 900)] == [
        HEALTHY, WATCH, WATCH, ACT,
    ]  # fmt: skip
    assert [verdicts.budget(Budget(100, spent), settings) for spent in (39, 40, 79, 80)] == [HEALTHY, WATCH, WATCH, ACT]
    assert verdicts.budget(None, settings) is None, "no budget set: no verdict"
