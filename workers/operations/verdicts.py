"""Whether a headline number on Operations (or the library's summary) is fine: healthy, watch or act.

Derived from the alert thresholds (`workers/operations/alerts.py`), so the pages and the alerts never disagree:
a number reads *act* exactly where its alert fires, *watch* from half of that threshold
(`WATCH_FROM`), and *healthy* below. Numbers that have no alert read *watch* when they are not zero
and point at a problem (jobs stuck in processing).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from db.monitoring import failure_share
from db.settings import Settings
from workers.engine.budget import Budget
from workers.operations.alerts import starting
from workers.operations.health import Health, Storage


class Verdict(StrEnum):
    HEALTHY = "healthy"
    WATCH = "watch"
    ACT = "act"


WATCH_FROM = 0.5
"""A number reads *watch* from this share of its alert's threshold on."""


def against(value: float, threshold: float) -> Verdict:
    """*act* at or past the alert's threshold, *watch* from half of it, *healthy* below."""
    if value >= threshold:
        return Verdict.ACT
    return Verdict.WATCH if value >= threshold * WATCH_FROM else Verdict.HEALTHY


def failure_rate(failed: int, finished: int, settings: Settings) -> Verdict:
    """Against ALERT_FAILURE_RATE; fewer finished jobs than ALERT_FAILURE_MIN_JOBS are at most *watch*,
    as the alert does not fire on them either."""
    share = failure_share(failed, finished)
    if share is None:
        return Verdict.HEALTHY
    found = against(share, settings.alert_failure_rate)
    return Verdict.WATCH if found is Verdict.ACT and finished < settings.alert_failure_min_jobs else found


def queue_age(age: timedelta | None, settings: Settings) -> Verdict:
    """The longest-waiting due job against ALERT_QUEUE_AGE_SECONDS; nothing due is healthy."""
    return Verdict.HEALTHY if age is None else against(age.total_seconds(), settings.alert_queue_age_seconds)


def workers(health: Health, settings: Settings, *, since: datetime | None = None) -> Verdict:
    """None alive is *act*, as the "no worker" alert, or *watch* within its start grace (`since`:
    this process's start). A worker killed long ago keeps its row, so the dead ones are not counted."""
    if health.workers_alive:
        return Verdict.HEALTHY
    return Verdict.WATCH if starting(health, settings, since=since) else Verdict.ACT


def stuck(health: Health) -> Verdict:
    """Jobs processing past the job timeout: maintenance requeues them, but someone should look."""
    return Verdict.WATCH if health.stuck else Verdict.HEALTHY


def storage(used: Storage, settings: Settings) -> Verdict:
    return against(used.used_fraction, settings.alert_storage_fraction)


def budget(spent: Budget | None, settings: Settings) -> Verdict | None:
    """The month's spend against ALERT_BUDGET_FRACTION of the budget; None when no budget is set."""
    return None if spent is None else against(spent.fraction, settings.alert_budget_fraction)
