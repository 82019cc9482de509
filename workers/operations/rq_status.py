"""The pipeline right now, as RQ sees it: jobs waiting, running, scheduled and failed per queue, and
RQ's own worker registrations.

Shown beside the PostgreSQL view (`db.live`): when the two disagree (say, queued rows but empty
queues after Redis lost its data), the reconciler is about to put things right.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker

from workers.engine.queue import QUEUE_NAMES


@dataclass(frozen=True)
class QueueState:
    name: str
    waiting: int
    running: int
    scheduled: int
    failed: int


@dataclass(frozen=True)
class RqWorker:
    name: str
    state: str
    current_job: str | None
    last_heartbeat: datetime | None


@dataclass(frozen=True)
class RqStatus:
    queues: list[QueueState]
    workers: list[RqWorker]
    error: str | None = None
    """A sentence when Redis could not be asked; the lists are empty then."""


def rq_status(connection: Redis) -> RqStatus:
    """Counts from each priority queue and its registries, and every RQ worker registered."""
    try:
        queues = []
        for name in QUEUE_NAMES:
            queue = Queue(name, connection=connection)
            queues.append(
                QueueState(
                    name,
                    queue.count,
                    queue.started_job_registry.count,
                    queue.scheduled_job_registry.count,
                    queue.failed_job_registry.count,
                )
            )
        workers = [
            RqWorker(w.name, str(w.get_state()), w.get_current_job_id(), w.last_heartbeat)
            for w in Worker.all(connection=connection)
        ]
    except RedisError as error:
        return RqStatus(
            [], [], f"Redis did not answer ({type(error).__name__}); the counts below come from PostgreSQL."
        )
    return RqStatus(queues, sorted(workers, key=lambda w: w.name))
