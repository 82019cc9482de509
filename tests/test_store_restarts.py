"""PostgreSQL or Redis restarting under running workers: the workers recover and nothing is lost.

These tests start their own embedded servers (the machine's shared ones must not be restarted),
so they run the same on a developer's laptop and in CI.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from db.engine import reset_engine
from db.settings import get_settings
from db.upgrade import upgrade
from tests.factories import demo_data
from tests.fake_providers import FakeProviders
from tests.test_reliability import OPENAI, _paid_calls_per_row
from tests.workers_env import WorkersStarter, all_finished, providers_on, statuses, wait_until
from workers.operations.embedded import EmbeddedPostgres, EmbeddedRedis, start_postgres, start_redis
from workers.redis_connection import reset_redis
from workers.service.submit import Request, submit

JOBS = 12
OUTAGE_SECONDS = 3.0


@dataclass
class Servers:
    """This test's own servers; a test that restarts one puts the new handle here to be stopped."""

    folder: Path
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis


@pytest.fixture
def own_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    folder = tmp_path / "servers"
    servers = Servers(folder, start_postgres(folder), start_redis(folder))
    monkeypatch.setenv("DATABASE_URL", servers.postgres.url)
    monkeypatch.setenv("REDIS_URL", servers.redis.url)
    get_settings.cache_clear()
    reset_engine()
    reset_redis()
    upgrade()
    demo_data()
    try:
        yield servers
    finally:
        reset_engine()
        reset_redis()
        servers.redis.stop()
        servers.postgres.stop()


@pytest.fixture
def fake(own_servers: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviders]:
    with FakeProviders(seconds_per_char=0.002) as running, providers_on(running, monkeypatch):
        running.latency = 0.5
        yield running


def _submit(label: str) -> list[int]:
    return [
        submit(Request(kind="scene", target_id=1 + i % 7, prompt=f"{label} {i}: the bells rang.", **OPENAI)).row_id
        for i in range(JOBS)
    ]


def test_postgres_restart_under_running_workers(
    own_servers: Servers, fake: FakeProviders, tmp_path: Path, workers: WorkersStarter
) -> None:
    with workers(tmp_path) as running:
        running.start()
        running.start()
        ids = _submit("PG")
        wait_until(lambda: "completed" in statuses("scene", ids).values(), timeout=60, what="a first completion")
        reset_engine()
        own_servers.postgres.stop()
        time.sleep(OUTAGE_SECONDS)
        url = own_servers.postgres.url
        own_servers.postgres = start_postgres(own_servers.folder)
        back_at = time.monotonic()
        assert own_servers.postgres.url == url  # the workers reconnect to the same address
        wait_until(lambda: all_finished("scene", ids), timeout=120, what="every job to finish")
        recovery = time.monotonic() - back_at

    assert set(statuses("scene", ids).values()) == {"completed"}, running.logs()[-3000:]
    paid = _paid_calls_per_row(fake, "PG", ids)
    # A request in flight while the database was down delivered audio nobody could record: that
    # chunk is asked for again. At most the requests each worker had in flight (its OpenAI places).
    again = sum(n - 1 for n in paid.values())
    assert again <= 2 * get_settings().openai_concurrency and min(paid.values()) == 1
    print(
        f"\nPostgreSQL restart ({OUTAGE_SECONDS:.0f} s down): {JOBS} jobs in, {JOBS} completed, "
        f"{again} chunk(s) re-requested, done {recovery:.1f} s after it came back"
    )


def test_redis_restart_under_running_workers(
    own_servers: Servers, fake: FakeProviders, tmp_path: Path, workers: WorkersStarter
) -> None:
    with workers(tmp_path) as running:
        running.start()
        running.start()
        ids = _submit("Redis")
        wait_until(lambda: "completed" in statuses("scene", ids).values(), timeout=60, what="a first completion")
        own_servers.redis.stop()
        time.sleep(OUTAGE_SECONDS)
        url = own_servers.redis.url
        own_servers.redis = start_redis(own_servers.folder)
        back_at = time.monotonic()
        assert own_servers.redis.url == url
        wait_until(lambda: all_finished("scene", ids), timeout=120, what="every job to finish")
        recovery = time.monotonic() - back_at

    assert set(statuses("scene", ids).values()) == {"completed"}, running.logs()[-3000:]
    paid = _paid_calls_per_row(fake, "Redis", ids)
    assert set(paid.values()) == {1}, paid
    print(
        f"\nRedis restart ({OUTAGE_SECONDS:.0f} s down): {JOBS} jobs in, {JOBS} completed, 0 duplicates, "
        f"done {recovery:.1f} s after it came back"
    )
