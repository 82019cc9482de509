"""Jobs are never lost or doubled: killed workers, flushed or restarted Redis, provider faults.

Real PostgreSQL, real Redis, real worker processes; only OpenAI and ElevenLabs are fakes, at the
HTTP level. Each test prints the figures the README quotes (jobs in/out, duplicates, recovery).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from db.engine import new_session
from db.models import Chunk, SceneAudio, StoryAudio
from db.settings import get_settings
from tests.fake_providers import Call, FakeProviders
from tests.test_long_text import long_story
from tests.workers_env import WorkersStarter, all_finished, statuses, wait_until
from workers.service.submit import Request, submit

OPENAI: dict[str, Any] = {"provider": "openai", "model": "tts-1", "voice": "nova"}


def _progress(row_id: int) -> int:
    with new_session() as session:
        return session.query(Chunk).filter(Chunk.story_audio_id == row_id, Chunk.status == "done").count()


def _scene_jobs(count: int, label: str) -> list[int]:
    return [
        submit(
            Request(kind="scene", target_id=1 + i % 7, prompt=f"{label} {i}: the lamp turned {i} times.", **OPENAI)
        ).row_id
        for i in range(count)
    ]


def _delivered(call: Call) -> bool:
    """A request that produced usable audio (a `garbage` or `truncated` 200 did not)."""
    return call.status == 200 and call.fault in (None, "slow")


def _paid_calls_per_row(fake: FakeProviders, label: str, ids: list[int]) -> Counter[int]:
    """Requests that delivered audio, per row, read from the fake's own log."""
    per_row: Counter[int] = Counter()
    for i, row_id in enumerate(ids):
        per_row[row_id] = sum(1 for c in fake.calls_for(f"{label} {i}:") if _delivered(c))
    return per_row


def test_a_worker_killed_mid_job_is_resumed_by_another_and_completes_once(
    fake: FakeProviders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: WorkersStarter
) -> None:
    fake.latency = 0.4
    monkeypatch.setenv("OPENAI_CONCURRENCY", "2")
    text = long_story(40_000)
    with workers(tmp_path) as running:
        first = running.start()
        done = submit(Request(kind="story", target_id=1, prompt=text, **OPENAI))
        wait_until(lambda: _progress(done.row_id) >= 3, timeout=60, what="three chunks done")
        finished_before_kill = _progress(done.row_id)
        os.kill(first.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        running.start()  # what docker's restart policy or `narration-desk run` does
        wait_until(lambda: statuses("story", [done.row_id])[done.row_id] == "completed", timeout=90, what="completion")
        recovery = time.monotonic() - killed_at

    with new_session() as session:
        row = session.get(StoryAudio, done.row_id)
        assert row is not None and row.status == "completed" and row.attempts == 2
        chunks = session.query(Chunk).filter(Chunk.story_audio_id == row.id).order_by(Chunk.idx).all()
    paid = Counter(c.text for c in fake.calls if _delivered(c))
    repeated = {text: n for text, n in paid.items() if n > 1}
    assert len(list((get_settings().media_path / "tts/story").iterdir())) == 1  # one joined file
    assert set(paid) == {c.text for c in chunks}
    # Only requests in flight at the moment of the kill (at most the concurrency) can be paid twice.
    assert len(repeated) <= 2 and all(n == 2 for n in repeated.values())
    print(
        f"\nSIGKILL: {len(chunks)} chunks, {finished_before_kill} done before the kill, "
        f"{len(repeated)} re-requested, recovered in {recovery:.1f} s"
    )


def test_redis_flushed_with_jobs_queued_and_running_loses_nothing(
    fake: FakeProviders, redis: Redis, tmp_path: Path, workers: WorkersStarter
) -> None:
    fake.latency = 0.3
    with workers(tmp_path) as running:
        running.start()
        running.start()
        ids = _scene_jobs(16, "Flush")
        wait_until(lambda: "completed" in statuses("scene", ids).values(), timeout=60, what="a first completion")
        redis.flushdb()
        flushed_at = time.monotonic()
        wait_until(lambda: all_finished("scene", ids), timeout=90, what="every job to finish")
        recovery = time.monotonic() - flushed_at

    assert set(statuses("scene", ids).values()) == {"completed"}
    paid = _paid_calls_per_row(fake, "Flush", ids)
    assert set(paid.values()) == {1}, paid  # every row synthesized exactly once
    print(f"\nRedis FLUSHDB: 16 jobs in, 16 completed, 0 duplicates, all done {recovery:.1f} s after the flush")


def test_four_workers_five_hundred_jobs_random_faults(
    fake: FakeProviders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: WorkersStarter
) -> None:
    monkeypatch.setenv("CHUNK_TRIES", "3")
    fake.random_faults(0.15, ["429", "500", "garbage", "truncated", "slow", "busy", "quota"], seed=500)
    started = time.monotonic()
    with workers(tmp_path) as running:
        for _ in range(4):
            running.start()
        ids = _scene_jobs(500, "Bulk")
        wait_until(lambda: all_finished("scene", ids), timeout=600, every=1.0, what="500 jobs to finish")
    elapsed = time.monotonic() - started

    with new_session() as session:
        rows = session.query(SceneAudio.id, SceneAudio.status, SceneAudio.error_message).all()
        our_calls = dict(
            session.query(Chunk.scene_audio_id, Chunk.provider_calls).filter(Chunk.scene_audio_id.in_(ids)).all()
        )
    outcome = Counter(status for _, status, _ in rows)
    reasons = Counter((message or "").split(":")[0] for _, status, message in rows if status == "failed")
    paid = _paid_calls_per_row(fake, "Bulk", ids)
    completed = {row_id for row_id, status, _ in rows if status == "completed"}

    assert outcome["completed"] + outcome["failed"] == 500
    assert all(message for _, status, message in rows if status == "failed"), "a failure without a reason"
    duplicates = sum(1 for row_id in completed if paid[row_id] > 1)
    assert duplicates == 0, "a completed row was synthesized twice"
    assert all(paid[row_id] == 0 for row_id in set(ids) - completed), "a failed row was billed"
    sent: Counter[int] = Counter()
    for i, row_id in enumerate(ids):
        sent[row_id] = len(fake.calls_for(f"Bulk {i}:"))
    assert our_calls == dict(sent)  # the chunk table counts every request the provider saw
    faults = Counter(c.fault for c in fake.calls if c.fault)
    print(
        f"\n4 workers, 500 jobs, {sum(faults.values())} injected faults {dict(faults)}: "
        f"{outcome['completed']} completed, {outcome['failed']} failed with a reason {dict(reasons)}, "
        f"{duplicates} duplicates, {elapsed:.1f} s"
    )
