"""One worker process keeps a provider busy across the jobs it holds, and every promise still holds.

Real PostgreSQL, Redis and worker processes; the fake OpenAI answers each request after a latency
and refuses (429) a request above its limit of requests in flight, as a plan's limit would.
"""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from db.engine import new_session
from db.lifecycle import cancel
from db.models import SceneAudio
from tests.fake_providers import FakeProviders
from tests.test_reliability import OPENAI, _delivered
from tests.test_slots import ELEVEN
from tests.workers_env import Workers, WorkersStarter, all_finished, statuses, wait_until
from workers.service.submit import Request, submit


def _scenes(label: str, count: int, *, priority: int = 0) -> list[int]:
    return [
        submit(
            Request(kind="scene", target_id=1 + i % 7, prompt=f"{label} {i}: a lantern.", priority=priority, **OPENAI)
        ).row_id
        for i in range(count)
    ]


def _requests_per_row(fake: FakeProviders, label: str, count: int) -> list[int]:
    return [len(fake.calls_for(f"{label} {i}:")) for i in range(count)]


def _processing(ids: list[int]) -> int:
    return sum(1 for status in statuses("scene", ids).values() if status == "processing")


def test_one_worker_keeps_the_providers_limit_in_flight_across_jobs(
    fake: FakeProviders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: WorkersStarter
) -> None:
    fake.latency = 0.5
    fake.concurrency_limits = {"openai": 4}
    monkeypatch.setenv("OPENAI_CONCURRENCY", "4")
    ids = _scenes("Many", 40)
    with workers(tmp_path) as running:
        running.start()
        wait_until(lambda: all_finished("scene", ids), timeout=120, what="every row to finish")

    assert set(statuses("scene", ids).values()) == {"completed"}, running.logs()[-3000:]
    # Four one-passage jobs were in flight together: the provider's limit, never above it (no 429).
    assert fake.max_concurrent_seen["openai"] == 4
    assert not [call for call in fake.calls if call.status != 200]
    assert set(_requests_per_row(fake, "Many", 40)) == {1}  # no row asked for twice, none lost


@contextmanager
def _worker_holding_four(
    workers: WorkersStarter, fake: FakeProviders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, label: str
) -> Iterator[tuple[Workers, subprocess.Popen[bytes], list[int]]]:
    """Eight one-passage rows and one worker holding four: two sending, two waiting for a place in
    its gate, the other four still in Redis."""
    fake.latency = 2.0
    monkeypatch.setenv("OPENAI_CONCURRENCY", "2")
    monkeypatch.setenv("WORKER_JOBS", "4")
    ids = _scenes(label, 8)
    with workers(tmp_path) as running:
        process = running.start()
        wait_until(lambda: _processing(ids) == 4, timeout=60, what="the worker to hold four jobs")
        yield running, process, ids


def test_cancel_reaches_every_job_in_flight_and_the_others_complete(
    fake: FakeProviders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: WorkersStarter
) -> None:
    with _worker_holding_four(workers, fake, tmp_path, monkeypatch, "Cancel") as (_, _, ids):
        held = [row_id for row_id, status in statuses("scene", ids).items() if status == "processing"]
        with new_session() as session:
            for row_id in held[:3]:
                cancel(session, "scene", row_id)
        wait_until(lambda: all_finished("scene", ids), timeout=120, what="every row to finish")

    with new_session() as session:
        rows = {row.id: row for row in session.query(SceneAudio).filter(SceneAudio.id.in_(ids))}
    cancelled = set(held[:3])
    assert {row_id for row_id, row in rows.items() if row.cancelled_at is not None} == cancelled
    assert all(rows[row_id].audio_file in (None, "") for row_id in cancelled)  # nothing stored for them
    assert {row.status for row_id, row in rows.items() if row_id not in cancelled} == {"completed"}
    requested = _requests_per_row(fake, "Cancel", 8)
    # A cancelled job waiting for a place never sends; one already sending is paid for, once.
    assert all(n == 1 for row_id, n in zip(ids, requested, strict=True) if row_id not in cancelled)
    assert sum(requested[ids.index(row_id)] for row_id in cancelled) <= 2


def test_sigterm_hands_back_the_waiting_jobs_and_lets_the_sending_ones_finish(
    fake: FakeProviders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: WorkersStarter
) -> None:
    with _worker_holding_four(workers, fake, tmp_path, monkeypatch, "Term") as (running, first, ids):
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
        after_stop = statuses("scene", ids)
        running.start()
        wait_until(lambda: all_finished("scene", ids), timeout=120, what="the second worker to finish them")

    stopped = Counter(after_stop.values())
    # The two sending finished their one passage; the two waiting went back to the queue untouched,
    # as did the four it never took. Nothing failed, nothing stayed 'processing'.
    assert stopped == {"completed": 2, "queued": 6}, (stopped, running.logs()[-3000:])
    assert set(statuses("scene", ids).values()) == {"completed"}
    assert set(_requests_per_row(fake, "Term", 8)) == {1}


def test_a_high_priority_row_behind_a_full_worker_sends_next(
    fake: FakeProviders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: WorkersStarter
) -> None:
    fake.latency = 2.0
    monkeypatch.setenv("OPENAI_CONCURRENCY", "1")
    monkeypatch.setenv("WORKER_JOBS", "3")
    low = _scenes("Low", 5, priority=-1)
    with workers(tmp_path) as running:
        running.start()
        wait_until(lambda: _processing(low) == 3, timeout=60, what="the worker to be full of low rows")
        urgent = _scenes("Urgent", 1, priority=1)
        wait_until(lambda: all_finished("scene", low + urgent), timeout=180, what="every row to finish")

    sent = [call.text.split(":")[0] for call in fake.calls if _delivered(call)]
    held = {"Low 0", "Low 1", "Low 2"}
    # At the submit, one of the three low rows the worker held was sending and two waited for the
    # place. One of those took the freed place before the urgent row was even taken from Redis; the
    # urgent row then went ahead of the other, which had waited longer, and of the two in Redis.
    assert sent[2] == "Urgent 0" and set(sent[:2]) < held and sent[3] in held, sent
    assert set(statuses("scene", low + urgent).values()) == {"completed"}


def test_two_workers_full_of_jobs_stay_within_the_elevenlabs_accounts_limit(
    fake: FakeProviders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: WorkersStarter
) -> None:
    fake.latency = 0.5
    fake.concurrency_limits = {"elevenlabs": 2}  # the plan's limit: a third request is answered 429
    monkeypatch.setenv("ELEVENLABS_CONCURRENCY", "3")  # each worker alone would send three
    monkeypatch.setenv("ELEVENLABS_ACCOUNT_CONCURRENCY", "2")
    ids = [
        submit(Request(kind="scene", target_id=1 + i % 7, prompt=f"Eleven {i}: a harbour bell.", **ELEVEN)).row_id
        for i in range(16)
    ]
    with workers(tmp_path) as running:
        running.start()
        running.start()
        wait_until(lambda: all_finished("scene", ids), timeout=120, what="every row to finish")

    assert set(statuses("scene", ids).values()) == {"completed"}, running.logs()[-3000:]
    assert fake.max_concurrent_seen["elevenlabs"] == 2  # busy up to the account's limit, never above it
    assert not [call for call in fake.calls if call.status != 200]
    assert set(_requests_per_row(fake, "Eleven", 16)) == {1}
