"""The ElevenLabs account's concurrency shared out among workers: real Redis, real SDK, fake API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from redis import Redis

from db.engine import new_session
from db.lifecycle import cancel
from db.models import SceneAudio
from db.settings import get_settings
from tests.factories import demo_data
from tests.fake_providers import FakeProviders
from tests.test_long_text import long_story
from tests.workers_env import providers_on
from workers.engine.jobs import synthesize
from workers.engine.slots import AccountSlots
from workers.service.submit import Request, submit

ELEVEN: dict[str, Any] = {"provider": "elevenlabs", "model": "eleven_multilingual_v2", "voice": "21m00Tcm4TlvDq8ikWAM"}


def test_no_more_than_the_limit_are_held_and_a_dead_holders_lease_runs_out(redis: Redis) -> None:
    slots = AccountSlots(redis, "elevenlabs", 2, lease_seconds=0.5)
    assert slots.try_take("a") and slots.try_take("b")
    assert not slots.try_take("c")  # the account is full
    slots.give_back("a")
    assert slots.try_take("c")
    time.sleep(0.6)  # "b" and "c" were killed mid-request: their leases run out
    assert slots.try_take("d") and slots.try_take("e") and not slots.try_take("f")


@pytest.fixture
def fake(db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviders]:
    demo_data()
    with FakeProviders(seconds_per_char=0.0005, latency=0.3) as running, providers_on(running, monkeypatch):
        yield running


@pytest.mark.parametrize("account_limit", [None, 2])
def test_two_workers_together_stay_within_the_accounts_concurrency(
    fake: FakeProviders, monkeypatch: pytest.MonkeyPatch, account_limit: int | None
) -> None:
    monkeypatch.setenv("ELEVENLABS_CONCURRENCY", "3")  # each job alone may send three chunks at once
    if account_limit:
        monkeypatch.setenv("ELEVENLABS_ACCOUNT_CONCURRENCY", str(account_limit))
    get_settings.cache_clear()
    rows = [submit(Request(kind="scene", target_id=n, prompt=long_story(25_000), **ELEVEN)).row_id for n in (1, 2)]

    with ThreadPoolExecutor(max_workers=2) as workers:  # two workers, one job each, at the same time
        outcomes = list(workers.map(lambda row_id: synthesize("scene", row_id), rows))

    assert all("completed" in outcome for outcome in outcomes), outcomes
    seen = fake.max_concurrent_seen["elevenlabs"]
    if account_limit:
        assert seen <= account_limit
    else:
        assert seen > 2  # the control: without the shared limit, the two jobs together send more
    with new_session() as session:
        assert {r.status for r in session.query(SceneAudio)} == {"completed"}


def test_a_job_waiting_for_a_slot_can_be_cancelled_and_sends_nothing(
    fake: FakeProviders, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELEVENLABS_ACCOUNT_CONCURRENCY", "1")
    get_settings.cache_clear()
    assert AccountSlots(redis, "elevenlabs", 1, lease_seconds=60).try_take("another worker's long request")
    row_id = submit(Request(kind="scene", target_id=1, prompt="A lighthouse at dusk.", **ELEVEN)).row_id

    with ThreadPoolExecutor(max_workers=1) as worker:
        running = worker.submit(synthesize, "scene", row_id)
        time.sleep(1.5)  # it is waiting for the slot
        assert not running.done()
        with new_session() as session:
            cancel(session, "scene", row_id)
        outcome = running.result(timeout=10)
    assert "stopped" in outcome and "cancel" in outcome, outcome
    assert fake.calls == []  # nothing was sent while the account was full


def test_without_redis_requests_go_ahead_unshared() -> None:
    slots = AccountSlots(Redis.from_url("redis://127.0.0.1:1/0"), "elevenlabs", 1, lease_seconds=5)
    waited: list[float] = []
    with slots.held(waited.append):
        pass  # the request is sent
    assert waited == []
