"""Worker overhead: jobs/s of a Narration Desk worker with a no-op provider vs bare RQ's SimpleWorker.

Both drain N jobs in burst mode, in this process, on the same Redis. The Narration Desk job does
everything a real one does (claim, chunk plan, provider call, chunk file, join, encode, preview,
file, completion) except the speech itself, which the no-op provider replaces.
"""

from __future__ import annotations

import time

from redis import Redis
from rq import Queue, SimpleWorker

from workers.providers.base import ChunkAudio, ChunkRequest
from workers.providers.local import LocalProvider
from workers.queue import queues
from workers.submit import Request, submit
from workers.worker import NarrationWorker

SILENCE = b"\0\0" * 2205  # 0.1 s at 22,050 Hz


def _noop_synthesize(self: LocalProvider, request: ChunkRequest) -> ChunkAudio:
    return ChunkAudio(pcm=SILENCE, sample_rate=22_050, characters_billed=0)


def bare_rq(connection: Redis, jobs: int) -> float:
    queue = Queue("bench", connection=connection)
    queue.enqueue_many([Queue.prepare_data("bench.noop.job") for _ in range(jobs)])
    worker = SimpleWorker([queue], connection=connection)
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    return jobs / (time.perf_counter() - started)


def narration_desk(connection: Redis, jobs: int) -> float:
    LocalProvider.synthesize = _noop_synthesize  # type: ignore[method-assign]
    for i in range(jobs):
        submit(Request(kind="scene", target_id=1 + i % 7, prompt=f"Scene {i}.", provider="local",
                       model="piper:en_US-joe-medium", voice="joe"))  # fmt: skip
    worker = NarrationWorker(queues(), connection=connection, maintenance_interval=3600)
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    return jobs / (time.perf_counter() - started)


def run(connection: Redis, jobs: int = 1000) -> dict[str, float]:
    baseline = bare_rq(connection, jobs)
    connection.flushdb()
    ours = narration_desk(connection, jobs)
    return {
        "bare RQ SimpleWorker, no-op job (jobs/s)": baseline,
        "Narration Desk worker, no-op provider (jobs/s)": ours,
        "ratio (goal >= 0.8)": ours / baseline,
    }
