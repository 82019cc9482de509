"""Worker overhead: what one one-passage job costs a Narration Desk worker beyond bare RQ, and where.

Both drain N jobs one at a time in burst mode, in this process, on the same Redis. The Narration
Desk job does everything a real one does (claim and chunk plan, provider call, chunk file, mastering,
quality checks, encoding, preview, file, completion) except the speech itself, which a no-op
provider replaces. The job's time is split by timing the functions that do each part, so "our own
bookkeeping" is what is left after RQ's share, the file writes and the audio work.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from redis import Redis
from rq import Queue, SimpleWorker

from db.engine import get_engine
from workers.engine import jobs, mastering, qc
from workers.engine.providers.base import ChunkAudio, ChunkRequest
from workers.engine.providers.local import LocalProvider
from workers.engine.queue import queues
from workers.engine.store import LocalStore
from workers.engine.worker import NarrationWorker
from workers.service.submit import Request, submit

SILENCE = b"\0\0" * 2205  # 0.1 s at 22,050 Hz
PARTS: list[tuple[Any, str, str]] = [
    (LocalStore, "write", "file writes (chunk and audio, fsync)"),
    (mastering, "master_passages", "mastering"),
    (qc, "measure", "quality checks"),
    (jobs, "encode", "encoding"),
    (jobs, "preview", "encoding"),
]


def _noop_synthesize(self: LocalProvider, request: ChunkRequest) -> ChunkAudio:
    return ChunkAudio(pcm=SILENCE, sample_rate=22_050, characters_billed=0)


def _timed(spent: dict[str, float], part: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[part] += time.perf_counter() - started

    return timed


def bare_rq(connection: Redis, jobs_count: int) -> float:
    queue = Queue("bench", connection=connection)
    queue.enqueue_many([Queue.prepare_data("bench.noop.job") for _ in range(jobs_count)])
    worker = SimpleWorker([queue], connection=connection)
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    return (time.perf_counter() - started) / jobs_count


def _commits() -> int:
    with get_engine().connect() as connection:
        return int(
            connection.exec_driver_sql(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            ).scalar_one()
        )


def narration_desk(connection: Redis, jobs_count: int) -> tuple[float, dict[str, float], float]:
    """Seconds per job, seconds per job of each timed part, and PostgreSQL commits per job."""
    LocalProvider.synthesize = _noop_synthesize  # type: ignore[method-assign]
    for i in range(jobs_count):
        submit(Request(kind="scene", target_id=1 + i % 7, prompt=f"Scene {i}.", provider="local",
                       model="piper:en_US-joe-medium", voice="joe"))  # fmt: skip
    spent: dict[str, float] = dict.fromkeys((part for _, _, part in PARTS), 0.0)
    for module, name, part in PARTS:
        setattr(module, name, _timed(spent, part, getattr(module, name)))
    worker = NarrationWorker(queues(), connection=connection, maintenance_interval=3600)
    commits = _commits()
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    elapsed = time.perf_counter() - started
    commits = _commits() - commits - 1  # the second reading's own
    return elapsed / jobs_count, {part: s / jobs_count for part, s in spent.items()}, commits / jobs_count


def run(connection: Redis, jobs_count: int = 1000) -> dict[str, float]:
    baseline = bare_rq(connection, jobs_count)
    connection.flushdb()
    ours, parts, commits = narration_desk(connection, jobs_count)
    bookkeeping = ours - baseline - sum(parts.values())
    return {
        "bare RQ SimpleWorker, no-op job (ms per job)": baseline * 1000,
        "Narration Desk worker, no-op provider (ms per job)": ours * 1000,
        **{f"  of which {part} (ms)": seconds * 1000 for part, seconds in parts.items()},
        "  of which our bookkeeping, the rest beyond RQ (ms) (goal <= 5)": bookkeeping * 1000,
        "PostgreSQL commits per job": commits,
        "ratio of jobs/s to bare RQ": baseline / ours,
    }
