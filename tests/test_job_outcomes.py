"""How a job ends: retried later, failed with a reason, cancelled, handed back on shutdown, scheduled."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue

from db.engine import new_session
from db.lifecycle import cancel
from db.models import Chunk, SceneAudio, StoryAudio
from db.settings import get_settings
from tests.factories import demo_data
from tests.fake_providers import FakeProviders
from tests.test_long_text import long_story
from tests.test_reliability import OPENAI
from tests.workers_env import WorkersStarter, providers_on, statuses, wait_until
from workers.engine.jobs import synthesize
from workers.engine.providers import registry
from workers.engine.queue import QUEUE_NAMES
from workers.engine.reconcile import reconcile
from workers.service.submit import Refused, Request, submit


@pytest.fixture
def fake(db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviders]:
    demo_data()
    monkeypatch.setenv("CHUNK_TRIES", "2")
    with FakeProviders(seconds_per_char=0.002) as running, providers_on(running, monkeypatch):
        yield running


def _scene(text: str = "A red door creaks open.", **changes: object) -> int:
    return submit(Request(kind="scene", target_id=1, prompt=text, **{**OPENAI, **changes})).row_id


def _row(row_id: int) -> SceneAudio:
    with new_session() as session:
        row = session.get(SceneAudio, row_id)
        assert row is not None
        return row


def test_a_provider_outage_is_retried_later_with_backoff_then_given_up(fake: FakeProviders) -> None:
    row_id = _scene()
    fake.fail_next("500", times=100)

    before = datetime.now(UTC)
    assert "will retry" in synthesize("scene", row_id)
    row = _row(row_id)
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.next_attempt_at is not None and row.next_attempt_at > before  # backoff, not a hot loop
    assert row.error_message and row.error_message.startswith("Attempt 1 failed: OpenAI had a server error (500)")

    for _ in (2, 3):  # attempts 2 and 3, as the reconciler starts them once next_attempt_at has passed
        with new_session() as session:
            session.query(SceneAudio).filter_by(id=row_id).update({"next_attempt_at": None})
            session.commit()
        synthesize("scene", row_id)
    row = _row(row_id)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.error_message and row.error_message.startswith("Gave up after 3 attempts")
    assert len(fake.calls) == 6  # 2 tries per chunk × 3 attempts, nothing more


def test_a_rate_limit_honours_retry_after_and_then_succeeds(fake: FakeProviders) -> None:
    row_id = _scene()
    fake.fail_next("429")
    started = time.monotonic()
    assert "completed" in synthesize("scene", row_id)
    assert time.monotonic() - started >= 1.0  # the fake's Retry-After: 1
    assert [c.status for c in fake.calls] == [429, 200]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("401", "check OPENAI_API_KEY"), ("quota", "quota exhausted")],
)
def test_permanent_errors_fail_at_once_with_a_reason(fake: FakeProviders, fault: str, reason: str) -> None:
    row_id = _scene()
    fake.fail_next(fault)  # type: ignore[arg-type]
    synthesize("scene", row_id)
    row = _row(row_id)
    assert row.status == "failed" and row.attempts == 1
    assert reason in (row.error_message or "")
    assert fake.api_key not in (row.error_message or "")
    assert len(fake.calls) == 1


def test_a_voice_the_catalogue_no_longer_lists_fails_with_a_reason(fake: FakeProviders) -> None:
    row_id = _scene()
    with new_session() as session:
        session.query(SceneAudio).filter_by(id=row_id).update({"voice_style": "retired-voice"})
        session.commit()
    synthesize("scene", row_id)
    row = _row(row_id)
    assert row.status == "failed" and "no voice 'retired-voice'" in (row.error_message or "")
    assert fake.calls == []


def test_cancel_says_what_happened(fake: FakeProviders) -> None:
    row_id = _scene()
    with new_session() as session:
        assert cancel(session, "scene", row_id).startswith(f"Cancelled scene narration #{row_id}")
        assert "already failed" in cancel(session, "scene", row_id)
    assert "nothing to do" in synthesize("scene", row_id)
    row = _row(row_id)
    assert row.status == "failed" and row.cancelled_at is not None and row.audio_file is None
    assert fake.calls == []


def test_a_running_job_stops_at_its_next_chunk_when_cancelled(
    fake: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job runs on a thread of this process, as a worker runs each of its jobs on a thread; the
    cancel reaches it through the row, as in a worker."""
    fake.latency = 0.3
    monkeypatch.setenv("OPENAI_CONCURRENCY", "1")
    get_settings.cache_clear()
    registry.get.cache_clear()
    done = submit(Request(kind="story", target_id=1, prompt=long_story(40_000), **OPENAI))
    with ThreadPoolExecutor(max_workers=1) as pool:
        job = pool.submit(synthesize, "story", done.row_id)
        wait_until(lambda: _done_chunks(done.row_id) >= 2, timeout=60, what="two chunks done")
        with new_session() as session:
            cancel(session, "story", done.row_id)
        at_cancel = len(fake.calls)
        job.result(timeout=30)  # the job ends: no more paid requests after the cancel
    # It stopped at its next check of the row (every CANCEL_CHECK_SECONDS, one request in flight),
    # far from the end of the story.
    assert len(fake.calls) - at_cancel <= 1 + math.ceil(get_settings().cancel_check_seconds / fake.latency)
    assert len(fake.calls) < _all_chunks(done.row_id)
    with new_session() as session:
        row = session.get(StoryAudio, done.row_id)
        assert row is not None and row.status == "failed" and row.cancelled_at and row.audio_file is None
    assert not (get_settings().media_path / "tts/story").exists()


def _all_chunks(row_id: int) -> int:
    with new_session() as session:
        return session.query(Chunk).filter(Chunk.story_audio_id == row_id).count()


def _done_chunks(row_id: int) -> int:
    with new_session() as session:
        return session.query(Chunk).filter(Chunk.story_audio_id == row_id, Chunk.status == "done").count()


def test_sigterm_hands_the_row_back_and_the_next_worker_resumes(
    fake: FakeProviders, tmp_path: Path, workers: WorkersStarter
) -> None:
    fake.latency = 0.3
    done = submit(Request(kind="story", target_id=1, prompt=long_story(40_000), **OPENAI))
    with workers(tmp_path) as running:
        first = running.start(OPENAI_CONCURRENCY="1")
        wait_until(lambda: _done_chunks(done.row_id) >= 2, timeout=60, what="two chunks done")
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=10) == 0
        with new_session() as session:
            row = session.get(StoryAudio, done.row_id)
            assert row is not None and (row.status, row.attempts) == ("queued", 0)
        kept = _done_chunks(done.row_id)
        total = _all_chunks(done.row_id)
        running.start()
        wait_until(lambda: statuses("story", [done.row_id])[done.row_id] == "completed", timeout=60, what="completion")
    paid = [c.text for c in fake.calls if c.status == 200]
    assert len(paid) == len(set(paid))  # the chunks done before the shutdown were not asked for again
    # It stopped at its next chunk, handing back a job half done, rather than finishing it first
    # (how fast is the benchmarks' business: a timed assertion only measured the machine's load).
    assert 2 <= kept < total


def test_a_scheduled_narration_waits_for_its_time(fake: FakeProviders, redis: Redis) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    done = submit(Request(kind="scene", target_id=2, prompt="Later.", scheduled_at=later, **OPENAI))
    assert not done.enqueued and done.message.startswith(f"Scheduled scene narration #{done.row_id}")
    with new_session() as session:  # past the submitter's grace period
        session.query(SceneAudio).filter_by(id=done.row_id).update(
            {"created_at": SceneAudio.created_at - timedelta(minutes=1)}
        )
        session.commit()
    assert reconcile(redis) == 0
    with new_session() as session:  # its time comes: the row's clock is moved, not the test's
        session.query(SceneAudio).filter_by(id=done.row_id).update(
            {"scheduled_at": datetime.now(UTC) - timedelta(seconds=1)}
        )
        session.commit()
    assert reconcile(redis) == 1
    assert len(Queue(QUEUE_NAMES[1], connection=redis)) == 1


def test_priority_picks_the_queue(fake: FakeProviders, redis: Redis) -> None:
    _scene("Urgent.", priority=1)
    _scene("Whenever.", priority=-1)
    assert [len(Queue(name, connection=redis)) for name in QUEUE_NAMES] == [1, 0, 1]


def test_tone_instructions_and_speed_reach_openai(fake: FakeProviders) -> None:
    row_id = _scene("Softly now.", model="gpt-4o-mini-tts", instructions="Warm and slow.", speed=0.8)
    assert "completed" in synthesize("scene", row_id)
    params = fake.calls[0].params
    assert (params["instructions"], params["speed"], params["model"]) == ("Warm and slow.", 0.8, "gpt-4o-mini-tts")


def test_instructions_for_a_model_without_them_are_refused(fake: FakeProviders) -> None:
    with pytest.raises(Refused, match="takes no tone instructions"):
        _scene("Hello.", instructions="Loud.")
