"""The Narration Desk worker: RQ's SimpleWorker running several jobs at once on threads, plus a
heartbeat and the reconciler.

Every paid provider call is I/O: a one-passage scene narration spends about a second waiting on
OpenAI and a few milliseconds of our own. So one process holds several jobs (WORKER_JOBS, by default
enough to fill every provider's places) and the provider gates (workers/engine/gates.py) keep each
provider's requests in flight across all of them. RQ 3 keeps one execution record per running job,
so its registries, results and retries work per job as they do with one at a time; what a forking
worker or a WorkerPool would add is a process (and the runtime, SDKs and maybe the voice) per job.

Jobs run in this process instead of a forked one: the Piper voice is loaded once (on the first
local job, or at start with LOCAL_VOICE_PRELOAD) and stays warm. A heartbeat thread writes to
PostgreSQL every second under the worker's lease and gives back the rows of workers whose lease
lapsed (workers/engine/lease.py; the reconciler, those of silent workers), and SIGTERM makes every running
job hand its row back before its next chunk; the worker exits once they have.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.defaults import DEFAULT_MAINTENANCE_TASK_INTERVAL
from rq.exceptions import StopRequested
from rq.job import Job
from rq.timeouts import TimerDeathPenalty
from rq.utils import as_text, now
from rq.worker import WorkerStatus

from db import heartbeats
from db.engine import new_session
from db.settings import get_settings
from workers.engine import jobs, metrics
from workers.engine.lease import Lease
from workers.engine.providers import registry
from workers.engine.queue import queues
from workers.engine.reconcile import reconcile
from workers.redis_connection import redis

log = logging.getLogger(__name__)

RECONCILE_LOCK = "nd:reconcile-lock"
RQ_CHECK_EVERY = 1.0
"""Seconds between the main thread's RQ heartbeats and `rq suspend` checks, however many jobs it takes."""
REGISTRY_CLEAN_EVERY = timedelta(seconds=DEFAULT_MAINTENANCE_TASK_INTERVAL)
HEARTBEAT_SECONDS = 1.0
TAKE_AT_ONCE = 16
"""Most jobs taken from Redis in one round trip: enough to fill a worker's places quickly, few
enough that a batch is started within milliseconds."""
TAKE_SCRIPT = """
local wanted = tonumber(ARGV[1])
local taken = {}
for i = 1, #KEYS, 2 do
  if wanted <= 0 then break end
  local ids = redis.call('LPOP', KEYS[i], wanted)
  if ids then
    for _, id in ipairs(ids) do
      redis.call('RPUSH', KEYS[i + 1], id)
      table.insert(taken, KEYS[i])
      table.insert(taken, id)
    end
    wanted = wanted - #ids
  end
end
return taken
"""
"""Pops up to ARGV[1] job ids from the queues KEYS[1], KEYS[3], ... in that order, moving each to the
queue's intermediate list (KEYS[2], KEYS[4], ...), atomically; returns queue key, id, queue key, ..."""
LOOP_RESTART_SECONDS = 2.0

Housekeeping = Callable[[Redis, str], None]
"""What a worker does for the rest of the desk between jobs, given its Redis and its name: the
alerts and the hourly maintenance (`workers.operations.housekeeping.between_jobs`, which
`narration-desk worker` passes in). Passed in rather than imported: the engine never imports
operations, which imports the engine."""


class NarrationWorker(SimpleWorker):
    """Listens on the priority queues, runs up to `jobs` of them at once, and every few seconds
    enqueues rows that have no job.

    The main thread takes jobs from Redis only for free places (all of them in one round trip), so
    jobs wait in Redis, where the priority queues order them and any other worker may take them, not
    in this process.
    RQ runs `run_maintenance_tasks` every `maintenance_interval` seconds; we set that to the
    reconcile interval and hook the reconciler, then the `housekeeping` it was given, in there.
    """

    # Job timeouts in the job's own thread: RQ's default (SIGALRM) only reaches the main thread.
    death_penalty_class = TimerDeathPenalty
    _registries_cleaned_at: datetime | None = None

    def __init__(self, *args: Any, jobs: int = 1, housekeeping: Housekeeping | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.jobs = jobs
        self.housekeeping = housekeeping
        self._places = threading.BoundedSemaphore(jobs)
        self._running = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="job")
        self._uninterruptible = False
        self._taken: deque[tuple[Job, Queue]] = deque()
        self._take = self.connection.register_script(TAKE_SCRIPT)
        self._beaten_at = -RQ_CHECK_EVERY
        self._suspension_checked_at = -RQ_CHECK_EVERY

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """The next job: one already taken, or as many waiting ones as there are free places, taken
        at once; when none waits, RQ's own blocking wait for one. None in burst mode when the queues
        are empty. A high-priority job is taken as soon as any place frees up."""
        if not self._taken:
            while not self._places.acquire(timeout=1):
                self.heartbeat()
                if self._stop_requested:
                    raise StopRequested()
            self._uninterruptible = True  # a SIGTERM meanwhile must not drop what the take popped
            self._take_waiting()
        if self._taken:
            self._uninterruptible = True  # a SIGTERM now waits for the job to be started, not lost
            return self._taken.popleft()
        self._uninterruptible = False  # RQ's wait below is where a SIGTERM stops the worker at once
        if self._stop_requested:
            self._places.release()
            raise StopRequested()
        taken = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        if taken is None:
            self._places.release()
        else:
            self._uninterruptible = True
        return taken

    def _take_waiting(self) -> None:
        """Take up to one job per free place (the caller holds one) in one round trip, highest
        priority first, and keep each job's place for it.

        RQ takes one job per round trip (BLPOP), then fetches it and logs it: at dozens of short
        jobs a second the main thread taking them one by one was the worker's ceiling
        (bench/bulk.py). The ids go to the queue's intermediate list, as RQ's own single-queue
        dequeue does, until the job is started (`prepare_job_execution`): a worker killed in
        between leaves them there, and RQ's registry cleaning fails them, so the reconciler
        enqueues their rows again."""
        wanted = 1
        while wanted < TAKE_AT_ONCE and self._places.acquire(blocking=False):
            wanted += 1
        keys = [key for queue in self._ordered_queues for key in (queue.key, queue.intermediate_queue_key)]
        popped = self._take(keys=keys, args=[wanted])
        by_key = {queue.key: queue for queue in self._ordered_queues}
        pairs = [(by_key[as_text(key)], as_text(job_id)) for key, job_id in zip(popped[::2], popped[1::2], strict=True)]
        jobs = self.job_class.fetch_many([job_id for _, job_id in pairs], self.connection, self.serializer)
        version = self.get_redis_server_version()  # type: ignore[no-untyped-call]
        for (queue, job_id), job in zip(pairs, jobs, strict=True):
            if job is None:  # deleted while waiting; RQ skips those too
                self.connection.lrem(queue.intermediate_queue_key, 1, job_id)
                continue
            job.redis_server_version = version
            self.log.info("Worker %s: %s: %s", self.name, queue.name, job.id)
            self._taken.append((job, queue))
        for _ in range(wanted - max(len(self._taken), 1)):
            self._places.release()

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """RQ's bookkeeping as a job starts, also taking the job off its intermediate list, where
        `_take_waiting` put it (in the same round trip; nothing to remove for a BLPOP'd job)."""
        super().prepare_job_execution(job, remove_from_intermediate_queue=True)

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Start the job on a thread of its own and return to take the next one."""
        try:
            execution = self.prepare_execution(job)
            self._running.submit(self._perform, job, queue, execution)
        except BaseException:
            self._places.release()
            raise
        finally:
            self._uninterruptible = False

    def _perform(self, job: Job, queue: Queue, execution: Any) -> None:
        try:
            with metrics.JOBS_IN_FLIGHT.track_inprogress():
                self.perform_job(job, queue, execution)
        except Exception:  # RQ records the job's own failures; this is RQ's bookkeeping failing
            log.exception("RQ could not record the outcome of job %s", job.id)
        finally:
            self._places.release()  # first: a Redis error below must not cost the worker a place
            if not self.executions:
                with contextlib.suppress(RedisError):  # cosmetic; the next dequeue sets it again
                    self.set_state(WorkerStatus.IDLE)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's worker heartbeat (three Redis round trips), at most once every RQ_CHECK_EVERY.

        RQ beats three times for each job it takes; at dozens of jobs a second that was most of the
        main thread's round trips, and each one waits to take the GIL back from the job threads,
        so it capped how fast the worker takes jobs (bench/bulk.py). The key lives for minutes.
        A beat into a pipeline, or with a timeout of its own, goes through as RQ asks."""
        if pipeline is None and timeout is None:
            if time.monotonic() - self._beaten_at < RQ_CHECK_EVERY:
                return
            self._beaten_at = time.monotonic()
        super().heartbeat(timeout, pipeline)

    def check_for_suspension(self, burst: bool) -> None:
        """`rq suspend` is still obeyed, within RQ_CHECK_EVERY, without a round trip per job taken."""
        if time.monotonic() - self._suspension_checked_at < RQ_CHECK_EVERY:
            return
        self._suspension_checked_at = time.monotonic()
        super().check_for_suspension(burst)

    def set_state(self, state: str, pipeline: Any = None) -> None:
        """Busy while any job runs (RQ marks the worker idle whenever it listens for the next one),
        written to Redis only when it changes: RQ sets it at every job taken, a round trip each."""
        state = WorkerStatus.BUSY if state == WorkerStatus.IDLE and self.executions else state
        if pipeline is None and state == self._state:
            return
        super().set_state(state, pipeline)

    def teardown(self) -> None:
        """Put back the jobs taken but not started, first in their queues, and let every running job
        end (on SIGTERM they hand their rows back at their next chunk)."""
        with contextlib.suppress(RedisError):  # else they wait in the intermediate list, see above
            self._give_back_taken()
        self._running.shutdown(wait=True)
        super().teardown()  # type: ignore[no-untyped-call]

    def _give_back_taken(self) -> None:
        with self.connection.pipeline() as pipeline:
            while self._taken:
                job, queue = self._taken.pop()  # last first, so the first ends up first again
                pipeline.lrem(queue.intermediate_queue_key, 1, job.id)
                pipeline.lpush(queue.key, job.id)
            pipeline.execute()

    def _shutdown(self) -> None:
        """A warm stop: the main loop ends at once unless it is taking jobs, handing one it took to a
        thread, or maintaining; it then stops right after."""
        self._stop_requested = True
        if not self._uninterruptible:
            raise StopRequested()

    @property
    def dequeue_timeout(self) -> int:
        # Wake up at least this often so the reconciler runs even while the queues are empty.
        return get_settings().reconcile_interval_seconds

    def run_maintenance_tasks(self) -> None:
        """Registries, the reconciler and housekeeping, each run to its end: a SIGTERM meanwhile stops
        the worker after them. (Raised from the signal handler in the middle of the reconciler's
        query, the stop was swallowed as a failed run and the worker hung on its way out.)"""
        held, self._uninterruptible = self._uninterruptible, True
        try:
            self._maintain()
        finally:
            self._uninterruptible = held
        if self._stop_requested:
            raise StopRequested()

    def _maintain(self) -> None:
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
        if self.housekeeping is not None:
            self.housekeeping(self.connection, self.name)

    def request_stop(self, signum: Any, frame: Any) -> None:
        """On SIGTERM/SIGINT the job hands its row back at its next chunk, then RQ stops."""
        jobs.shutting_down.set()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


class Heartbeat(threading.Thread):
    """Every second, writes this worker's heartbeat under its lease and takes over the rows of
    workers whose lease lapsed (workers/engine/lease.py); survives database outages."""

    def __init__(self, worker: NarrationWorker) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.worker = worker
        self.halt = threading.Event()
        self.lease = Lease()

    def beat(self) -> None:
        self.lease.beat(name=self.worker.name)
        metrics.heartbeat()

    def run(self) -> None:
        while not self.halt.wait(HEARTBEAT_SECONDS):
            try:
                self.beat()
                self.lease.take_over_lapsed()
            except Exception as error:  # the database may be restarting; keep trying
                log.warning("heartbeat failed (%s); retrying", type(error).__name__)


def run_worker(*, burst: bool, housekeeping: Housekeeping | None = None) -> bool:
    """Start a worker on the configured Redis; in burst mode, drain and return. `narration-desk
    worker` passes the operations' `housekeeping`; without it the worker only runs jobs and reconciles.

    The first connection failing is an error for the person starting the worker (a wrong
    REDIS_URL); after that, Redis going away only pauses the worker until it is back.
    """
    if get_settings().local_voice_preload:
        from workers.engine.providers.local import voice

        voice()  # a machine that serves the local voice: no job pays for loading it
    interval = get_settings().reconcile_interval_seconds
    # host.pid names say where a row was processed, which `processed_by` then records.
    name = f"{socket.gethostname()}.{os.getpid()}"
    worker = _worker(name, interval, housekeeping)
    if burst:
        # A burst run should pick up rows even if another worker reconciled a moment ago.
        redis().delete(RECONCILE_LOCK)
    heartbeat = Heartbeat(worker)
    heartbeat.beat()
    heartbeat.start()
    restarts = 0
    try:
        while True:
            try:
                worked = bool(worker.work(burst=burst, logging_level="INFO"))
            except RedisError as error:
                # RQ's own bookkeeping after a job (and its teardown) raise when Redis is restarting.
                log.warning("Redis went away (%s)", error)
                worked = False
            if burst or jobs.shutting_down.is_set():
                return worked
            # RQ left its loop on an error it does not handle: start over once Redis answers,
            # so one store blinking does not take the worker down.
            _abandon(worker)
            restarts += 1
            worker = _reconnect(f"{name}-{restarts}", interval, housekeeping)
            heartbeat.worker = worker
    finally:
        heartbeat.halt.set()
        with new_session() as session:
            heartbeats.stopped(session, name=heartbeat.worker.name)
        heartbeat.lease.close()


def _abandon(worker: NarrationWorker) -> None:
    """Stop what is left of a worker whose Redis vanished (its command listener thread)."""
    pubsub_thread = getattr(worker, "pubsub_thread", None)
    if pubsub_thread is not None:
        pubsub_thread.stop()
        pubsub_thread.join(timeout=1)


def _reconnect(name: str, interval: int, housekeeping: Housekeeping | None) -> NarrationWorker:
    """A new worker, once Redis answers, under a new name: the old registration may linger in Redis."""
    while True:
        log.warning("worker loop ended unexpectedly; starting it again in %s s", LOOP_RESTART_SECONDS)
        time.sleep(LOOP_RESTART_SECONDS)
        try:
            redis().ping()
            return _worker(name, interval, housekeeping)
        except RedisError as error:
            log.warning("Redis is still unreachable (%s)", error)


def _worker(name: str, interval: int, housekeeping: Housekeeping | None) -> NarrationWorker:
    return NarrationWorker(
        queues(),
        name=name,
        connection=redis(),
        maintenance_interval=interval,
        jobs=registry.jobs_held(),
        housekeeping=housekeeping,
    )
