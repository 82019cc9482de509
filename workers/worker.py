"""The Narration Desk worker: RQ's SimpleWorker plus the reconciler on RQ's maintenance timer.

SimpleWorker runs jobs in its own process instead of forking one per job: the Piper voice is
loaded once and stays warm, and no ONNX runtime threads are carried across a fork.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta

from rq import SimpleWorker
from rq.defaults import DEFAULT_MAINTENANCE_TASK_INTERVAL
from rq.utils import now

from db.settings import get_settings
from workers import local_voice
from workers.queue import queues, redis
from workers.reconcile import reconcile

log = logging.getLogger(__name__)

RECONCILE_LOCK = "nd:reconcile-lock"
REGISTRY_CLEAN_EVERY = timedelta(seconds=DEFAULT_MAINTENANCE_TASK_INTERVAL)


class NarrationWorker(SimpleWorker):
    """Listens on the priority queues and, every few seconds, enqueues rows that have no job.

    RQ runs `run_maintenance_tasks` every `maintenance_interval` seconds; we set that to the
    reconcile interval and hook the reconciler in there.
    """

    @property
    def dequeue_timeout(self) -> int:
        # Wake up at least this often so the reconciler runs even while the queues are empty.
        return get_settings().reconcile_interval_seconds

    _registries_cleaned_at: datetime | None = None

    def run_maintenance_tasks(self) -> None:
        stamp = now()
        if self._registries_cleaned_at is None or stamp - self._registries_cleaned_at > REGISTRY_CLEAN_EVERY:
            super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
            self._registries_cleaned_at = stamp
        else:
            # What RQ's timer reads (RQ types it as None only); registries keep RQ's own pace.
            self.last_cleaned_at = stamp  # type: ignore[assignment]
        interval = get_settings().reconcile_interval_seconds
        # One worker reconciles per interval; the others skip rather than race it.
        if self.connection.set(RECONCILE_LOCK, self.name, nx=True, ex=max(interval - 1, 1)):
            try:
                reconcile(self.connection)
            except Exception:
                log.exception("reconciler run failed; the next interval tries again")


def run_worker(*, burst: bool) -> bool:
    """Start a worker on the configured Redis; in burst mode, drain and return."""
    local_voice.voice()  # load before the first job so no job pays for it
    interval = get_settings().reconcile_interval_seconds
    # host.pid names say where a row was processed, which `processed_by` then records.
    name = f"{socket.gethostname()}.{os.getpid()}"
    worker = NarrationWorker(queues(), name=name, connection=redis(), maintenance_interval=interval)
    if burst:
        # A burst run should pick up rows even if another worker reconciled a moment ago.
        redis().delete(RECONCILE_LOCK)
    return bool(worker.work(burst=burst, logging_level="INFO"))
