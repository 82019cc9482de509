"""A worker takes as many waiting jobs as it has free places in one round trip, highest priority
first, and loses none of them: put back on a warm stop, found again after a kill.

Real Redis and PostgreSQL; the worker object runs in this process (its main loop is not needed to
take jobs), the burst run that finishes the rows is what `narration-desk worker --burst` calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.utils import as_text, now

from tests.fake_providers import FakeProviders
from tests.test_pipeline import _burst
from tests.test_reliability import OPENAI
from tests.workers_env import statuses
from workers.engine import reconcile as reconciler
from workers.engine.queue import QUEUE_NAMES, queues
from workers.engine.reconcile import reconcile
from workers.engine.worker import NarrationWorker
from workers.service.submit import Request, submit


def _scene(label: str, priority: int) -> tuple[int, str]:
    submitted = submit(Request(kind="scene", target_id=1, prompt=f"{label}: a lantern.", priority=priority, **OPENAI))
    return submitted.row_id, submitted.task_id


@pytest.fixture
def worker(redis: Redis) -> Iterator[NarrationWorker]:
    held = NarrationWorker(queues(), connection=redis, jobs=4)
    yield held
    held._running.shutdown(wait=False)


def _waiting(redis: Redis, name: str) -> list[str]:
    return [as_text(job_id) for job_id in redis.lrange(Queue(name, connection=redis).key, 0, -1)]


def _between(redis: Redis, name: str) -> list[str]:
    """Ids taken from the queue and not started yet (RQ's intermediate list)."""
    return [as_text(job_id) for job_id in redis.lrange(Queue(name, connection=redis).intermediate_queue_key, 0, -1)]


def test_free_places_are_filled_in_one_take_highest_priority_first(
    fake: FakeProviders, redis: Redis, worker: NarrationWorker
) -> None:
    low = [_scene(f"Low {i}", -1)[1] for i in range(3)]
    default = [_scene(f"Default {i}", 0)[1] for i in range(2)]
    high = _scene("High", 1)[1]

    first = worker.dequeue_job_and_maintain_ttl(None)
    # One take filled the four places: the urgent job, both default ones and the oldest low one.
    assert _waiting(redis, "nd-high") == _waiting(redis, "nd-default") == []
    assert _waiting(redis, "nd-low") == low[1:]
    started = [first] + [worker.dequeue_job_and_maintain_ttl(None) for _ in range(3)]
    assert [taken[0].id for taken in started if taken] == [high, *default, low[0]]
    # Until each is started it is on its queue's intermediate list, where a kill leaves it.
    assert _between(redis, "nd-high") == [high] and _between(redis, "nd-low") == [low[0]]


def test_a_warm_stop_puts_the_jobs_not_started_back_first_in_their_queues(
    fake: FakeProviders, redis: Redis, worker: NarrationWorker
) -> None:
    rows, default = zip(*(_scene(f"Default {i}", 0) for i in range(6)), strict=True)

    first = worker.dequeue_job_and_maintain_ttl(None)
    assert first is not None and first[0].id == default[0]
    worker.execute_job(*first)  # the one handed over runs; the three others are only taken
    worker.teardown()  # what a SIGTERM ends in: it waits for the running one

    assert _waiting(redis, "nd-default") == list(default[1:])
    assert _between(redis, "nd-default") == []
    assert statuses("scene", list(rows)) == {rows[0]: "completed"} | dict.fromkeys(rows[1:], "queued")


def test_jobs_taken_by_a_worker_killed_before_starting_them_are_narrated_once_by_another(
    fake: FakeProviders,
    redis: Redis,
    worker: NarrationWorker,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [_scene(f"Taken {i}", 0)[0] for i in range(4)]
    assert worker.dequeue_job_and_maintain_ttl(None) is not None
    # The worker dies here (nothing of it runs again): four jobs are off the queue, none started.
    taken = _between(redis, "nd-default")
    assert _waiting(redis, "nd-default") == [] and len(taken) == 4
    assert reconcile(redis) == 0  # their jobs still look alive to the reconciler

    # RQ's registry cleaning (every worker runs it) marks a job stuck there for over a minute failed.
    queue = Queue("nd-default", connection=redis)
    survivor = NarrationWorker(queues(), connection=redis, jobs=4)
    queue.intermediate_queue.cleanup(survivor, queue)  # first sight of each
    for job_id in _between(redis, "nd-default"):
        redis.set(queue.intermediate_queue.get_first_seen_key(job_id), (now() - timedelta(minutes=2)).timestamp())
    queue.intermediate_queue.cleanup(survivor, queue)
    survivor._running.shutdown(wait=False)
    assert {Job.fetch(job_id, connection=redis).get_status() for job_id in taken} == {JobStatus.FAILED}

    monkeypatch.setattr(reconciler, "GRACE", timedelta(0))  # as if the submitter's few seconds had passed

    assert reconcile(redis) == 4  # failed jobs are not alive: their rows are enqueued again
    _burst(caplog)
    assert set(statuses("scene", rows).values()) == {"completed"}
    assert [len(fake.calls_for(f"Taken {i}:")) for i in range(4)] == [1, 1, 1, 1]
    assert all(not _between(redis, name) for name in QUEUE_NAMES)
