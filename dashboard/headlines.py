"""The headline numbers of Operations and of the library's summary, each with its verdict.

Computed without Streamlit from a health snapshot and the settings; `dashboard/panels.py` draws
them. Verdicts come from `workers/operations/verdicts.py` (the alert thresholds); the help text of each number
says the rule, so a reader can see why it reads *watch*.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dashboard import labels
from db import monitoring
from db.monitoring import Failures, StatusCount
from db.settings import Settings
from workers.engine.budget import Budget
from workers.operations import verdicts
from workers.operations.health import Health, Storage
from workers.operations.verdicts import Verdict


@dataclass(frozen=True)
class Headline:
    """One headline number, its verdict (None: it has none) and the rule behind the verdict."""

    label: str
    value: str
    verdict: Verdict | None = None
    rule: str | None = None


def _rule(threshold: float, show: Callable[[float], str], setting: str) -> str:
    watch = threshold * verdicts.WATCH_FROM
    return f"Healthy under {show(watch)}, watch from {show(watch)}, act from {show(threshold)} (`{setting}`)."


def _due(health: Health, settings: Settings) -> Headline:
    """Due jobs are judged by how long the oldest of them has waited."""
    return Headline(
        "Due jobs waiting",
        f"{sum(q.due for q in health.queues):,}",
        verdicts.queue_age(health.oldest_due_age, settings),
        "Judged by how long the oldest has waited (m:ss). " + _wait_rule(settings),
    )


def _wait_rule(settings: Settings) -> str:
    return _rule(settings.alert_queue_age_seconds, labels.length, "ALERT_QUEUE_AGE_SECONDS")


def _workers(health: Health, settings: Settings) -> Headline:
    rule = (
        f"Act when no worker has sent a heartbeat in {settings.worker_dead_after_seconds} s; watch instead for "
        f"the first {settings.worker_start_grace_seconds} s after the desk starts (`WORKER_START_GRACE_SECONDS`)."
    )
    return Headline("Workers alive", str(health.workers_alive), verdicts.workers(health, settings), rule)


def live_headlines(health: Health, settings: Settings) -> list[Headline]:
    """The live strip on Operations: each number with its verdict."""
    age = health.oldest_due_age
    return [
        _due(health, settings),
        Headline("Scheduled for later", f"{sum(q.later for q in health.queues):,}", None,
                 "A start time or a retry's backoff still ahead: waiting on purpose, no verdict."),
        Headline("Longest wait", "—" if age is None else labels.length(age.total_seconds()),
                 verdicts.queue_age(age, settings),
                 "How long the oldest due job has waited for a worker (m:ss). " + _wait_rule(settings)),
        _workers(health, settings),
        Headline("Stuck in processing", str(len(health.stuck)), verdicts.stuck(health),
                 f"Watch when a job has run past `JOB_TIMEOUT_SECONDS` ({settings.job_timeout_seconds} s)."),
    ]  # fmt: skip


def summary_headlines(
    buckets: list[StatusCount], finishes: list[Failures], health: Health, settings: Settings
) -> list[Headline]:
    """The library's strip: the last 24 hours' jobs (asked for) and failure rate (of the jobs that
    finished, as chart and alert count it: `monitoring.failure_share`), due jobs and workers, each
    with its verdict."""
    failed = sum(f.failed for f in finishes)
    finished = sum(f.finished for f in finishes)
    share = monitoring.failure_share(failed, finished)
    rate_rule = _rule(settings.alert_failure_rate, labels.percent, "ALERT_FAILURE_RATE")
    return [
        Headline("Jobs, last 24 h", f"{sum(b.jobs for b in buckets):,}"),
        Headline("Failed, last 24 h", "—" if share is None else labels.percent(share),
                 verdicts.failure_rate(failed, finished, settings),
                 f"Failed ÷ jobs that finished in the last 24 h; cancels, queued and running jobs in neither. "
                 f"{rate_rule}"),
        _due(health, settings),
        _workers(health, settings),
    ]  # fmt: skip


def storage_headlines(used: Storage, settings: Settings) -> list[Headline]:
    return [
        Headline("Audio stored", f"{used.media_bytes / 1024**2:,.1f} MiB"),
        Headline("Quota used", labels.percent(used.used_fraction), verdicts.storage(used, settings),
                 _rule(settings.alert_storage_fraction, labels.percent, "ALERT_STORAGE_FRACTION")),
        Headline("Base64 previews in the database", f"{used.preview_bytes / 1024**2:,.1f} MiB"),
    ]  # fmt: skip


def budget_headline(month_usd: float, spent: Budget | None, settings: Settings) -> Headline:
    """Month-to-date cost; against the budget when one is set."""
    verdict = verdicts.budget(spent, settings)
    rule = None if verdict is None else _rule(settings.alert_budget_fraction, labels.percent, "ALERT_BUDGET_FRACTION")
    return Headline("Month to date", f"${month_usd:,.2f}", verdict, rule and f"Share of the monthly budget. {rule}")
