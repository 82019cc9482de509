"""Alert rules, judged on a health snapshot, shown as a banner and optionally posted to a webhook.

Rules (thresholds are settings, see README "Operations"):
- a provider's failure rate over the last ALERT_FAILURE_MINUTES is ALERT_FAILURE_RATE or more
  (with at least ALERT_FAILURE_MIN_JOBS finished jobs, so one failure is not "100%");
- a due job has waited ALERT_QUEUE_AGE_SECONDS or more for a worker;
- no worker has sent a heartbeat within WORKER_DEAD_AFTER_SECONDS (once this process has been up for
  WORKER_START_GRACE_SECONDS: `narration-desk run` starts the dashboard and the workers together,
  and a worker loads its voice before its first heartbeat);
- stored audio (MEDIA_ROOT or the bucket) is over ALERT_STORAGE_FRACTION of STORAGE_QUOTA_BYTES;
- this month's estimated cost is over ALERT_BUDGET_FRACTION of MONTHLY_BUDGET_USD (when set).
Every page run evaluates them for its banner; only the minutely check posts them, run by one of the
workers and dashboards that are running (`check_if_due`, whoever takes the lock), so the webhook
hears of a failing provider or a full disk with no page open, and of "no worker" from a dashboard
while every worker is down, and no page view can make the desk send requests. Each alert is posted
at most once per ALERT_REPEAT_SECONDS (a Redis key per alert, SET NX EX), so several dashboards and
the workers do not repeat it. Messages carry text from the shared database (a provider name), so
what chat apps read as markup (`<!channel>`, `<https://…|link>`) is escaped before posting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from redis import Redis
from redis.exceptions import RedisError

from db import alert_log
from db.engine import new_session
from db.monitoring import failure_share
from db.narrations import now
from db.settings import Settings
from workers.operations.health import Health, Storage, snapshot, storage

log = logging.getLogger(__name__)

POST_TIMEOUT_SECONDS = 5.0
CHECK_LOCK = "nd:alerts-lock"
CHECK_EVERY_SECONDS = 60

STARTED_AT = now()
"""When this process (a dashboard, a worker) loaded the alert rules: the start grace counts from here."""


@dataclass(frozen=True)
class Alert:
    key: str
    """Stable while the condition lasts (`failure-rate:openai`): what de-duplication counts on."""
    message: str


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _percent(share: float) -> str:
    """A whole percentage as the pages write one ("80 %"): alert sentences need no decimals."""
    return f"{share * 100:.0f} %"


def starting(health: Health, settings: Settings, *, since: datetime | None = None) -> bool:
    """Whether this process started (or `since`) less than WORKER_START_GRACE_SECONDS before the
    snapshot: a worker started with it may not have sent its first heartbeat yet."""
    return health.checked_at - (since or STARTED_AT) < timedelta(seconds=settings.worker_start_grace_seconds)


def evaluate(
    health: Health, storage: Storage | None, settings: Settings, *, since: datetime | None = None
) -> list[Alert]:
    """The alerts that hold now, each as a sentence a person can act on. `since` (default: this
    process's start) is when the start grace of "no worker" began."""
    alerts: list[Alert] = []
    for row in health.failures:
        share = failure_share(row.failed, row.finished)
        if (
            share is not None
            and row.finished >= settings.alert_failure_min_jobs
            and share >= settings.alert_failure_rate
        ):
            alerts.append(
                Alert(
                    f"failure-rate:{row.provider}",
                    f"{row.failed} of the last {row.finished} {row.provider} jobs failed "
                    f"({_percent(share)} in {settings.alert_failure_minutes} min). "
                    "See the top errors on the Operations page.",
                )
            )
    age = health.oldest_due_age
    if age is not None and age.total_seconds() >= settings.alert_queue_age_seconds:
        alerts.append(
            Alert(
                "queue-age",
                f"The oldest due job has waited {_duration(age.total_seconds())} for a worker. "
                "Check that workers are running, or start more.",
            )
        )
    if health.workers_alive == 0 and not starting(health, settings, since=since):
        alerts.append(
            Alert(
                "no-worker",
                f"No worker has sent a heartbeat in the last {settings.worker_dead_after_seconds} s, so nothing is "
                "being narrated. Start one with `narration-desk worker`.",
            )
        )
    if storage is not None and storage.used_fraction >= settings.alert_storage_fraction:
        alerts.append(
            Alert(
                "storage",
                f"Stored audio (MEDIA_ROOT or the bucket) uses {_percent(storage.used_fraction)} of the "
                f"{storage.quota_bytes / 1024**3:.1f} GiB quota. Run maintenance, or raise STORAGE_QUOTA_BYTES.",
            )
        )
    budget = health.budget
    if budget is not None and budget.fraction >= settings.alert_budget_fraction:
        alerts.append(
            Alert(
                "budget",
                f"This month's paid voices have cost about ${budget.spent_usd:,.2f}, {_percent(budget.fraction)} "
                f"of the ${budget.limit_usd:,.2f} budget. Prefer the local voice, or raise MONTHLY_BUDGET_USD.",
            )
        )
    return alerts


def chat_text(message: str) -> str:
    """`message` as plain text in Slack's `text` field (and the chat apps that copy its format): the
    three characters it reads as markup are escaped, as Slack's formatting guide asks."""
    return message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def notify(alerts: list[Alert], settings: Settings, connection: Redis) -> list[Alert]:
    """POST the alerts not posted in the last ALERT_REPEAT_SECONDS to the webhook; returns those posted.

    Failures are logged by kind only: the URL may hold a token, and httpx's messages include it.
    """
    if settings.alert_webhook_url is None or not alerts:
        return []
    try:
        fresh = [a for a in alerts if connection.set(f"nd:alert:{a.key}", 1, nx=True, ex=settings.alert_repeat_seconds)]
    except RedisError as error:
        log.warning("alerts not posted: Redis did not answer (%s)", type(error).__name__)
        return []
    if not fresh:
        return []
    payload = {
        "text": "Narration Desk: " + " ".join(chat_text(a.message) for a in fresh),
        "alerts": [{"key": a.key, "message": a.message} for a in fresh],
    }
    try:
        response = httpx.post(settings.alert_webhook_url.get_secret_value(), json=payload, timeout=POST_TIMEOUT_SECONDS)
        response.raise_for_status()
    except httpx.HTTPError as error:
        status = error.response.status_code if isinstance(error, httpx.HTTPStatusError) else None
        log.warning("alert webhook failed (%s%s); will try again", type(error).__name__, f" {status}" if status else "")
        connection.delete(*(f"nd:alert:{a.key}" for a in fresh))  # so the next run tries again
        return []
    return fresh


def check(settings: Settings, connection: Redis) -> list[Alert]:
    """Evaluate the rules now, keep the alert history, and post what is new: the path to the webhook
    (and the history) with no page open."""
    found = evaluate(snapshot(settings), storage(settings), settings)
    with new_session() as session:
        alert_log.record(session, {a.key: a.message for a in found}, now())
    return notify(found, settings, connection)


def check_if_due(settings: Settings, connection: Redis, *, checker: str) -> None:
    """`check`, if no worker or dashboard has in the last minute. Called often by each of them;
    failures are logged and the next minute tries again."""
    try:
        if connection.set(CHECK_LOCK, checker, nx=True, ex=CHECK_EVERY_SECONDS):
            check(settings, connection)
    except Exception:
        log.exception("alert check failed; the next minute tries again")
