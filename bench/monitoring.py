"""Monitoring at 1,000,000 narrations: each query vs the plainest SQL written by hand, and the page.

The history is made by `seed-demo --rows` (COPY). Every query covers the last 30 days (a third of
the rows), the widest preset. Each timing is the best of three runs; ratio = ours / by hand
(goal ≤ 1.5). "Page" is everything the operations page computes: all history panels, the live
snapshot and storage (goal < 2 s). EXPLAIN of the slowest query is printed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from sqlalchemy import text
from sqlalchemy.orm import Session

from dashboard.operations_view import load_panels
from db import monitoring
from db.engine import get_engine, new_session
from db.monitoring import HistoryFilters
from db.window import Window
from workers.operations.demo_history import seed_history
from workers.operations.health import snapshot, storage

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
TRIES = 3


def _both(columns: str, where: str = "", at: str = "created_at") -> str:
    """The hand-written union: both tables, the range on `at` (and `where`) inside each branch."""
    cond = f"{at} >= :start AND {at} < :end {where}"
    return (
        f"SELECT {columns} FROM tts_storyaudio WHERE {cond} UNION ALL SELECT {columns} FROM tts_sceneaudio WHERE {cond}"
    )


HAND_WRITTEN = {
    # A cancel (failed with cancelled_at) is its own state and no failure: the plainest SQL reads cancelled_at.
    "status_over_time": "SELECT b, count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = "
    "'processing'), count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed' AND "
    "cancelled_at IS NULL), count(*) FILTER (WHERE status = 'failed' AND cancelled_at IS NOT NULL) FROM ("
    + _both("date_bin('1 day', created_at AT TIME ZONE 'UTC', '2000-01-03') AS b, status, cancelled_at")
    + ") t GROUP BY b ORDER BY b",
    "provider_over_time": "SELECT b, provider, count(*) FROM ("
    + _both("date_bin('1 day', created_at AT TIME ZONE 'UTC', '2000-01-03') AS b, provider")
    + ") t GROUP BY 1, 2 ORDER BY 1, 2",
    "failure_rate": "SELECT b, provider, count(*) FILTER (WHERE status = 'failed'), count(*), "
    "count(*) FILTER (WHERE status = 'failed')::float / count(*) FROM ("
    + _both(
        "date_bin('1 day', completed_at AT TIME ZONE 'UTC', '2000-01-03') AS b, provider, status",
        "AND status IN ('completed', 'failed') AND cancelled_at IS NULL",
        at="completed_at",  # the failure rate counts jobs when they finish (monitoring.failure_share)
    )
    + ") t GROUP BY 1, 2 ORDER BY 1, 2",
    "top_errors": "SELECT error_message, count(*), max(created_at) FROM ("
    + _both("error_message, created_at", "AND status = 'failed' AND cancelled_at IS NULL")
    + ") t GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
    "latency": "SELECT provider, count(*), percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY wait), "
    "percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY processing) FILTER (WHERE status = 'completed') FROM ("
    + _both(
        "provider, extract(epoch FROM started_at - created_at) AS wait, "
        "extract(epoch FROM completed_at - started_at) AS processing, status",
        "AND started_at IS NOT NULL",
    )
    + ") t GROUP BY 1 ORDER BY 1",
    "billed_characters": "SELECT d, provider, model_backend, sum(c) FROM ("
    + _both(
        "date_trunc('day', created_at, 'UTC') AS d, provider, model_backend, characters_billed AS c",
        "AND status = 'completed'",
    )
    + " UNION ALL SELECT date_trunc('day', n.created_at, 'UTC'), n.provider, n.model_backend, c.characters_billed "
    "FROM tts_storyaudio n JOIN tts_chunk c ON c.story_audio_id = n.id WHERE n.created_at >= :start AND "
    "n.created_at < :end AND n.status <> 'completed' AND c.characters_billed IS NOT NULL "
    "UNION ALL SELECT date_trunc('day', n.created_at, 'UTC'), n.provider, n.model_backend, c.characters_billed "
    "FROM tts_sceneaudio n JOIN tts_chunk c ON c.scene_audio_id = n.id WHERE n.created_at >= :start AND "
    "n.created_at < :end AND n.status <> 'completed' AND c.characters_billed IS NOT NULL"
    ") t GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    "audio_hours": "SELECT d, coalesce(sum(duration_seconds), 0) / 3600 FROM ("
    + _both("date_trunc('day', created_at, 'UTC') AS d, duration_seconds", "AND status = 'completed'")
    + ") t GROUP BY 1 ORDER BY 1",
}


def _best(action: Callable[[], Any]) -> float:
    times = []
    for _ in range(TRIES):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def _ours(name: str, window: Window) -> Callable[[], Any]:
    def run() -> Any:
        with new_session() as session:
            return getattr(monitoring, name)(session, window, HistoryFilters())

    return run


def _by_hand(name: str, window: Window) -> Callable[[], Any]:
    def run() -> Any:
        with get_engine().connect() as connection:
            return connection.execute(text(HAND_WRITTEN[name]), {"start": window.start, "end": window.end}).all()

    return run


def _page(window: Window, now: datetime) -> None:
    load_panels(window, HistoryFilters(), now=now)
    snapshot()
    storage()


def _explain(session: Session, name: str, window: Window) -> str:
    statement = HAND_WRITTEN[name]
    plan = session.execute(
        text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {statement}"), {"start": window.start, "end": window.end}
    )
    return "\n".join(f"    {line}" for (line,) in plan)


def run(connection: Redis) -> dict[str, float]:
    started = time.perf_counter()
    seed_history(ROWS)
    seeded = time.perf_counter() - started
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as autocommit:
        autocommit.execute(text("VACUUM ANALYZE"))
    now = datetime.now(UTC)
    window = Window.last(timedelta(days=30), now=now)
    results: dict[str, float] = {f"seed-demo --rows {ROWS:,} (s)": seeded}
    slowest, slowest_time = "", 0.0
    for name in HAND_WRITTEN:
        ours = _best(_ours(name, window))
        hand = _best(_by_hand(name, window))
        results[f"{name}: ours (ms)"] = ours * 1000
        results[f"{name}: by hand (ms)"] = hand * 1000
        results[f"{name}: ratio"] = ours / hand
        if ours > slowest_time:
            slowest, slowest_time = name, ours
    results["page, last 30 days: all panels + live + storage (s)"] = _best(lambda: _page(window, now))
    day = Window.last(timedelta(days=1), now=now)
    results["page, last 24 hours: all panels + live + storage (s)"] = _best(lambda: _page(day, now))
    with new_session() as session:
        print(f"\nEXPLAIN ANALYZE of the slowest query ({slowest}, by hand):\n{_explain(session, slowest, window)}")
    return results
