"""A worker with the default settings holds few PostgreSQL connections however many jobs it runs.

Each `narration-desk worker` needs its lease connection and a small pool (db/engine.py WORKER), so 32
workers fit under PostgreSQL's default max_connections of 100; `BENCH=connections` measures that at
32. Counted as the server sees them: `pg_stat_activity` by the application names the worker sets.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from db import leases
from db.engine import WORKER, new_session
from tests.fake_providers import FakeProviders
from tests.test_reliability import OPENAI
from tests.workers_env import WorkersStarter, all_finished, statuses, wait_until
from workers.service.submit import Request, submit


def _held_by_the_worker() -> int:
    with new_session() as session:
        return int(
            session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name IN (:pool, :lease)"
                ),
                {"pool": WORKER.application_name, "lease": leases.APPLICATION_NAME},
            )
            or 0
        )


def test_a_worker_holds_two_connections_and_at_most_three_while_it_runs_eight_jobs(
    fake: FakeProviders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: WorkersStarter
) -> None:
    fake.latency = 0.3
    ids = [
        submit(Request(kind="scene", target_id=1 + i % 7, prompt=f"Pool {i}: a lantern.", **OPENAI)).row_id
        for i in range(48)
    ]
    seen: list[int] = []

    def finished() -> bool:
        seen.append(_held_by_the_worker())
        return all_finished("scene", ids)

    with workers(tmp_path) as running:
        running.start()
        wait_until(finished, timeout=120, every=0.02, what="every row to finish")
        assert set(statuses("scene", ids).values()) == {"completed"}, running.logs()[-3000:]
        # The default WORKER_JOBS ran 8 at once (OpenAI's 4 requests in flight), all on these connections.
        assert fake.max_concurrent_seen["openai"] == 4
        assert max(seen) <= WORKER.size + WORKER.overflow + 1
        # The overflow is closed once returned: at rest, the kept connection and the lease.
        wait_until(lambda: _held_by_the_worker() == WORKER.size + 1, timeout=10, what="the overflow to close")
