"""Finds work that nobody is doing and makes sure somebody does.

- Rows stuck in `processing` under a worker that stopped heartbeating (killed, machine lost) go
  back to `queued`; their finished chunks are kept, so the retry resumes.
- Queued rows that are due and have no live job in Redis are enqueued. They come from the Django
  app (it only inserts rows), from a Redis that was flushed or restarted, from a submit that could
  not reach Redis, from a retry whose backoff has passed, or from a scheduled start time.

Workers run this on a timer, so nobody has to enqueue anything by hand.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from redis import Redis
from rq.job import Job, JobStatus
from rq.utils import as_text

from db.engine import new_session
from db.lifecycle import queued_rows, requeue_orphans, set_task_id
from db.narrations import MODELS, now
from db.settings import get_settings
from workers.engine.queue import enqueue, new_task_id

log = logging.getLogger(__name__)

LIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
GRACE = timedelta(seconds=5)
"""A row that already has a task id and is younger than this is left to its submitter, which
enqueues right after committing. Rows without a task id (the Django app's) are enqueued at once."""
BATCH = 500


def _live_ids(connection: Redis, task_ids: list[str]) -> set[str]:
    """The task ids whose RQ job is waiting or running: one status field each, in one round trip.

    Only the status is read (what `Job.get_status` reads), not whole jobs: with a backlog the
    reconciler looks at BATCH rows per kind every interval, and unpickling each job was a fifth of a
    busy worker's time (bench/bulk.py)."""
    with connection.pipeline(transaction=False) as pipeline:
        for task_id in task_ids:
            pipeline.hget(Job.key_for(task_id), "status")
        statuses = pipeline.execute()
    return {task_id for task_id, status in zip(task_ids, statuses, strict=True) if status and as_text(status) in LIVE}


def reconcile(connection: Redis) -> int:
    """Enqueue every due queued row whose job is missing; returns how many were enqueued."""
    enqueued = 0
    with new_session() as session:
        dead_after = timedelta(seconds=get_settings().worker_dead_after_seconds)
        for kind, row_id, worker in requeue_orphans(session, dead_after=dead_after):
            log.warning("worker %s stopped heartbeating; %s #%s is queued again", worker, kind, row_id)
        for kind in MODELS:
            rows = queued_rows(session, kind, limit=BATCH)
            live = _live_ids(connection, [row.task_id for row in rows if row.task_id])
            recent = now() - GRACE
            for row in rows:
                if row.task_id in live or (row.task_id and row.created_at > recent):
                    continue
                fresh = new_task_id()
                set_task_id(session, kind, row.row_id, fresh)
                session.commit()
                enqueue(kind, row.row_id, task_id=fresh, priority=row.priority, connection=connection)
                enqueued += 1
    if enqueued:
        log.info("reconciler enqueued %d queued row(s) that had no job in Redis", enqueued)
    return enqueued


def enqueue_given_back(connection: Redis, given_back: list[tuple[str, int, str]]) -> None:
    """Enqueue rows just given back (their worker died) at once, rather than at the next reconcile.
    A row taken meanwhile is skipped; two workers enqueueing the same row is harmless: the claim
    of the second job finds nothing to claim."""
    with new_session() as session:
        for kind, row_id, _ in given_back:
            fresh = new_task_id()
            priority = set_task_id(session, kind, row_id, fresh)
            session.commit()
            if priority is not None:
                enqueue(kind, row_id, task_id=fresh, priority=priority, connection=connection)
