"""Connections: how many PostgreSQL connections 1, 8 and 32 `narration-desk worker` processes hold
against the server's max_connections, and the claim's share of PostgreSQL's time, at each.

Always on an embedded PostgreSQL 18 started for the run with `pg_stat_statements` preloaded (the
package ships the extension; a machine's server usually does not preload it), so the statements'
own execution times are read from the server rather than guessed from samples. The workers run with
the default settings against the fake OpenAI (LATENCY a request, its 4 in flight per worker), each
on ROWS_PER_WORKER one-passage scene rows. Connections are sampled every SAMPLE_SECONDS from
`pg_stat_activity`, by the application names the worker's pool and lease set (db/engine.py, db/leases.py).
The 1- and 8-worker runs are the baseline measured in the same run.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from redis import Redis

from bench.setup import bench_environment
from db import leases
from db.engine import WORKER
from db.settings import get_settings
from tests.fake_providers import FakeProviders
from tests.workers_env import all_finished, wait_until, workers
from workers.operations.embedded import start_postgres
from workers.service.submit import Request, submit

WORKER_COUNTS = tuple(int(n) for n in os.environ.get("CONNECTIONS_WORKERS", "1,8,32").split(","))
ROWS_PER_WORKER = 20
LATENCY = 0.5
SAMPLE_SECONDS = 0.005
DATABASE = "narration_desk_bench_connections"
SAMPLER = "nd-bench-sampler"
CLAIM = "started_at=coalesce("
"""What only the claim's text holds (db/lifecycle.py `_claim_of`): it keeps a row's first start."""


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def _postgres_with_statements(folder: Path) -> Iterator[str]:
    """An embedded PostgreSQL with pg_stat_statements loaded; its URL (a database of its own)."""
    first = start_postgres(folder)
    with psycopg.connect(_plain(first.url), autocommit=True) as admin:
        admin.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    first.stop()
    postgres = start_postgres(folder)  # the library loads only at start
    try:
        yield postgres.url
    finally:
        postgres.stop()


class Sampler(threading.Thread):
    """Counts the database's connections every SAMPLE_SECONDS; keeps the peaks."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.halt = threading.Event()
        self.peak_workers = 0
        self.peak_all = 0
        self.samples = 0

    def run(self) -> None:
        count = """SELECT count(*) FILTER (WHERE application_name IN (%s, %s)), count(*)
                   FROM pg_stat_activity WHERE datname = current_database() AND application_name <> %s"""
        with psycopg.connect(self.url, autocommit=True, application_name=SAMPLER) as connection:
            while not self.halt.is_set():
                row = connection.execute(count, (WORKER.application_name, leases.APPLICATION_NAME, SAMPLER)).fetchone()
                assert row is not None
                self.peak_workers = max(self.peak_workers, int(row[0]))
                self.peak_all = max(self.peak_all, int(row[1]))
                self.samples += 1
                time.sleep(SAMPLE_SECONDS)


def _leases(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            (leases.APPLICATION_NAME,),
        ).fetchone()
        return int(row[0]) if row else 0


def _statement_times(url: str) -> tuple[float, float, int]:
    """PostgreSQL's execution time (ms) of every statement on this database, of the claims, and
    how many claims ran, since the last reset."""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            """SELECT coalesce(sum(total_exec_time), 0),
                      coalesce(sum(total_exec_time) FILTER (WHERE query LIKE %s), 0),
                      coalesce(sum(calls) FILTER (WHERE query LIKE %s), 0)
               FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
               WHERE d.datname = current_database()""",
            (f"%{CLAIM}%", f"%{CLAIM}%"),
        ).fetchone()
        assert row is not None
        return float(row[0]), float(row[1]), int(row[2])


def _reset_statements(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_stat_statements_reset()")


def _measure(count: int, url: str, folder: Path) -> dict[str, float]:
    (folder / str(count)).mkdir()
    with workers(folder / str(count)) as running:
        for _ in range(count):
            running.start()
        wait_until(lambda: _leases(url) == count, timeout=600, what=f"{count} workers' leases")
        _reset_statements(url)
        sampler = Sampler(url)
        sampler.start()
        started = time.perf_counter()
        ids = [
            submit(Request(kind="scene", target_id=1 + i % 7, prompt=f"Connections {count}/{i}: a lantern.",
                           provider="openai", model="tts-1", voice="nova")).row_id
            for i in range(count * ROWS_PER_WORKER)
        ]  # fmt: skip
        wait_until(lambda: all_finished("scene", ids), timeout=900, every=0.2, what="every row to finish")
        elapsed = time.perf_counter() - started
        sampler.halt.set()
        sampler.join()
        total, claim, claims = _statement_times(url)
    label = f"{count} worker{'s' if count > 1 else ''}:"
    return {
        f"{label} peak connections of the workers (pool + lease)": sampler.peak_workers,
        f"{label}   per worker": sampler.peak_workers / count,
        f"{label} peak connections on the database (with the bench's own)": sampler.peak_all,
        f"{label} claim's share of PostgreSQL statement time (%)": 100 * claim / total,
        f"{label} claim's mean time (ms)": claim / max(claims, 1),
        f"{label} rows/s": len(ids) / elapsed,
    }


def run(connection: Redis) -> dict[str, float]:
    results: dict[str, float] = {}
    outer = os.environ.get("DATABASE_URL")
    with (
        tempfile.TemporaryDirectory(prefix="nd-connections-") as folder,
        _postgres_with_statements(Path(folder)) as server,
        FakeProviders(seconds_per_char=0.0001, latency=LATENCY) as fake,
    ):
        os.environ["DATABASE_URL"] = server
        try:
            with bench_environment(DATABASE):
                url = _plain(os.environ["DATABASE_URL"])
                with psycopg.connect(url, autocommit=True) as admin:
                    admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                    row = admin.execute("SHOW max_connections").fetchone()
                    assert row is not None
                    results["server's max_connections"] = float(row[0])
                os.environ.update(OPENAI_API_KEY=fake.api_key, OPENAI_BASE_URL=fake.openai_base_url)
                get_settings.cache_clear()
                for count in WORKER_COUNTS:
                    results.update(_measure(count, url, Path(folder)))
        finally:
            if outer is None:
                os.environ.pop("DATABASE_URL", None)
            else:
                os.environ["DATABASE_URL"] = outer
            get_settings.cache_clear()
    settings = get_settings()
    overflow = WORKER.overflow if settings.database_max_overflow is None else settings.database_max_overflow
    results["most one worker may hold (pool + overflow + lease)"] = (
        (settings.database_pool_size or WORKER.size) + overflow + 1
    )
    most = max(WORKER_COUNTS)
    label = f"{most} worker{'s' if most > 1 else ''}:"
    results[f"{label} peak connections / max_connections"] = (
        results[f"{label} peak connections on the database (with the bench's own)"]
        / results["server's max_connections"]
    )
    return results
