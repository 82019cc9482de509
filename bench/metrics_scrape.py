"""What one Prometheus scrape of the dashboard costs on the 100,000-row library.

The dashboard reads the queues and workers when Prometheus scrapes (workers/operations/metrics.py),
so a scrape must stay a few index lookups however large the library grows. Baseline, in the same
run: the plainest hand-written count of queued rows per priority over both tables, plus one Redis
LLEN per queue. Ratio = a whole scrape (every gauge, the process figures, the text format) / the
baseline; goal ≤ 5. Both are medians of SCRAPES runs, taken in turn.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from prometheus_client import generate_latest
from redis import Redis
from sqlalchemy import text

from db.engine import get_engine
from workers.engine.queue import QUEUE_NAMES
from workers.engine.queue import queues as rq_queues
from workers.operations.demo_history import seed_history
from workers.operations.metrics import dashboard_registry

ROWS = int(os.environ.get("BENCH_ROWS", "100000"))
SCRAPES = 200
QUEUED = 500
"""Rows left queued (due) for the scrape to count, spread over the priorities."""

BY_HAND = (
    "SELECT priority, count(*), min(created_at) FROM ("
    "SELECT priority, created_at FROM tts_storyaudio WHERE status = 'queued' "
    "UNION ALL SELECT priority, created_at FROM tts_sceneaudio WHERE status = 'queued') q GROUP BY 1"
)


def _medians_ms(*actions: Callable[[], object]) -> list[float]:
    """Each action's median time, the actions taken in turn, so a busy moment on the machine falls
    on all of them alike."""
    times: list[list[float]] = [[] for _ in actions]
    for _ in range(SCRAPES):
        for spent, action in zip(times, actions, strict=True):
            started = time.perf_counter()
            action()
            spent.append(time.perf_counter() - started)
    return [statistics.median(spent) * 1000 for spent in times]


def run(connection: Redis) -> dict[str, float]:
    seed_history(ROWS)
    with get_engine().begin() as db:
        db.execute(
            text(
                "INSERT INTO tts_sceneaudio (prompt, image_id, created_at, updated_at, provider, model_backend, "
                "voice_style, status, tags, priority) SELECT 'queued for the bench', 1, now(), now(), 'local', "
                "'piper:en_US-joe-medium', 'joe', 'queued', '{}', (i % 3) - 1 FROM generate_series(1, :n) i"
            ),
            {"n": QUEUED},
        )
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as autocommit:
        autocommit.execute(text("VACUUM ANALYZE"))
    registry = dashboard_registry()
    keys = [queue.key for queue in rq_queues()]
    assert len(keys) == len(QUEUE_NAMES)

    def by_hand() -> None:
        with get_engine().connect() as db:
            db.execute(text(BY_HAND)).all()
        with connection.pipeline(transaction=False) as pipeline:
            for key in keys:
                pipeline.llen(key)
            pipeline.execute()

    by_hand()
    scraped = generate_latest(registry)
    assert b'narration_desk_queue_depth{priority="default"}' in scraped
    baseline, scrape = _medians_ms(by_hand, lambda: generate_latest(registry))
    return {
        f"queued-row count by hand + 3 LLEN, {ROWS:,} rows (ms)": baseline,
        "dashboard scrape, every figure (ms)": scrape,
        "ratio": scrape / baseline,
    }
