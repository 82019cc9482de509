"""What every worker does for operations between jobs: the alert check and the hourly maintenance.

The engine's worker calls `between_jobs` from RQ's maintenance hook, every
RECONCILE_INTERVAL_SECONDS, after the reconciler (workers/engine/worker.py). `narration-desk worker`
hands it over, so the engine runs it without importing operations. Locks in Redis let one worker
(or dashboard, for the alerts) do each, however many run.
"""

from __future__ import annotations

import logging

from redis import Redis

from db.settings import get_settings
from workers.operations import alerts
from workers.operations.maintenance import run_maintenance

log = logging.getLogger(__name__)

MAINTENANCE_LOCK = "nd:maintenance-lock"
MAINTENANCE_EVERY_SECONDS = 3600


def between_jobs(connection: Redis, worker: str) -> None:
    """The alert check if due, and maintenance if no worker ran it in the last hour."""
    # Alerts reach the webhook even when no page is open.
    alerts.check_if_due(get_settings(), connection, checker=worker)
    # Hourly, by whichever worker gets the lock first.
    if connection.set(MAINTENANCE_LOCK, worker, nx=True, ex=MAINTENANCE_EVERY_SECONDS):
        try:
            run_maintenance("schedule")
        except Exception:
            log.exception("scheduled maintenance failed; the next hour tries again")
