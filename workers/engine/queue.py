"""The three priority queues and enqueueing a row (the connection: `workers.redis_connection`).

Redis only carries work; the row in PostgreSQL is the truth. So enqueueing is always done after
the row is committed, and a job that cannot be enqueued leaves a queued row that the reconciler
enqueues later.
"""

from __future__ import annotations

import uuid

from redis import Redis
from rq import Queue

from db.settings import get_settings
from workers.redis_connection import redis

QUEUE_NAMES = ("nd-high", "nd-default", "nd-low")
"""Listened to in this order, so priority > 0 jumps ahead of the default and < 0 waits behind it."""

JOB_FUNCTION = "workers.jobs.synthesize"
"""The job's function as RQ stores it in Redis: the stable path (workers/jobs.py says why), not
`workers.engine.jobs`, so jobs and workers on either side of an upgrade understand each other."""


def queue_name(priority: int) -> str:
    return QUEUE_NAMES[0] if priority > 0 else QUEUE_NAMES[2] if priority < 0 else QUEUE_NAMES[1]


def queues() -> list[Queue]:
    return [Queue(name, connection=redis()) for name in QUEUE_NAMES]


def new_task_id() -> str:
    """The RQ job id, chosen before the row is written so the row can carry it from the start."""
    return f"nd-{uuid.uuid4().hex}"


def enqueue(kind: str, row_id: int, *, task_id: str, priority: int = 0, connection: Redis | None = None) -> None:
    """Put the job for a committed row on its priority queue."""
    Queue(queue_name(priority), connection=connection or redis()).enqueue(
        JOB_FUNCTION,
        kind,
        row_id,
        job_id=task_id,
        job_timeout=get_settings().job_timeout_seconds,
        result_ttl=24 * 3600,
        failure_ttl=7 * 24 * 3600,
        description=f"narrate {kind} #{row_id}",
    )
