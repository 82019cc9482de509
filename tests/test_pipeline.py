"""End to end: a worker on a real queue with the real Piper voice; burst runs in this process (what
`narration-desk worker --burst` calls), the long-running worker as a real process."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import func, select, text

from db.engine import get_engine, new_session
from db.models import MaintenanceRun, SceneAudio, StoryAudio
from db.settings import get_settings
from tests.audio_checks import wav_duration, wav_rms
from tests.factories import LOCAL, demo_data
from tests.live import Commands
from workers.cli import main
from workers.engine.queue import QUEUE_NAMES
from workers.operations.alerts import CHECK_LOCK
from workers.operations.housekeeping import MAINTENANCE_LOCK
from workers.service.submit import Request, submit


def _worker(commands: Commands, *args: str) -> subprocess.Popen[str]:
    return commands.start([sys.executable, "-m", "workers.cli", "worker", *args])


def _burst(caplog: pytest.LogCaptureFixture) -> str:
    """Drain the queue (and queued rows) as `narration-desk worker --burst` does, in this process
    (no second load of ONNX Runtime and the voice); what it logged."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with caplog.at_level(logging.INFO):
            assert main(["worker", "--burst"]) == 0
    finally:
        for sig, handler in handlers.items():  # RQ installs its own; Ctrl-C must stop pytest again
            signal.signal(sig, handler)
    return caplog.text


def _insert_like_django(image_id: int, prompt: str) -> int:
    with get_engine().begin() as connection:
        return int(
            connection.execute(
                text(
                    "INSERT INTO tts_sceneaudio (prompt, provider, status, created_at, updated_at, image_id) "
                    "VALUES (:prompt, 'local', 'queued', now(), now(), :image) RETURNING id"
                ),
                {"prompt": prompt, "image": image_id},
            ).scalar_one()
        )


@pytest.fixture
def demo(db: str, redis: Redis) -> Iterator[None]:
    demo_data()
    yield


def test_story_narration_is_synthesized_stored_and_playable(
    demo: None, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    text_to_speak = "The lamp turned all night. In the morning, the boats came home."
    done = submit(Request(kind="story", target_id=1, prompt=text_to_speak, **LOCAL))
    assert done.enqueued
    assert Queue(QUEUE_NAMES[1], connection=redis).job_ids == [done.task_id]

    _burst(caplog)

    with new_session() as session:
        row = session.get(StoryAudio, done.row_id)
        assert row is not None
        assert (row.status, row.error_message, row.task_id) == ("completed", None, done.task_id)
        assert row.started_at is not None and row.completed_at is not None and row.processed_by
        assert row.audio_file and row.audio_file.startswith("tts/story/") and len(row.audio_file) <= 100
        assert row.base64_audio
        metadata = row.audio_metadata or {}
        duration = row.duration_seconds or 0.0
    path = get_settings().media_path / row.audio_file
    assert metadata["format"] == "wav" and path.suffix == ".wav"
    assert metadata["bytes"] == path.stat().st_size
    assert wav_duration(path) == pytest.approx(duration, rel=0.05)
    assert wav_duration(path) == pytest.approx(metadata["duration_seconds"], rel=0.05)
    assert duration > 2.0  # a dozen words take a few seconds to say
    assert wav_rms(path) > 0.01, "the narration is silent"


def test_rows_the_django_side_queued_are_found_by_a_burst_worker(
    demo: None, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [_insert_like_django(1, "A tall white lighthouse."), _insert_like_django(2, "A small grey cat.")]

    output = _burst(caplog)

    assert "enqueued 2 queued row(s)" in output
    with new_session() as session:
        rows = [session.get(SceneAudio, i) for i in ids]
        assert [(r.status, r.error_message) for r in rows if r] == [("completed", None)] * 2
        assert all(r and r.task_id for r in rows)


def test_a_running_worker_finds_django_rows_without_anyone_enqueueing(
    demo: None, redis: Redis, monkeypatch: pytest.MonkeyPatch, commands: Commands
) -> None:
    monkeypatch.setenv("RECONCILE_INTERVAL_SECONDS", "1")
    worker = _worker(commands)
    try:
        time.sleep(1.0)  # the worker is up and idle before the row appears
        row_id = _insert_like_django(3, "Fishermen climbing a green hill.")
        deadline = time.monotonic() + 60
        status = "queued"
        while time.monotonic() < deadline and status != "completed":
            time.sleep(0.5)
            with new_session() as session:
                row = session.get(SceneAudio, row_id)
                status = row.status if row else "missing"
        assert status == "completed"
    finally:
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()  # never leave it to take the next tests' jobs
            output, _ = worker.communicate()
    assert worker.returncode == 0, output


def test_a_duplicate_delivery_synthesizes_once(demo: None, redis: Redis, caplog: pytest.LogCaptureFixture) -> None:
    done = submit(Request(kind="story", target_id=2, prompt="Ada took the brass key.", **LOCAL))
    # The same row delivered a second time (a re-sent job, or a reconciler racing the submitter).
    Queue(QUEUE_NAMES[1], connection=redis).enqueue("workers.jobs.synthesize", "story", done.row_id)

    output = _burst(caplog)

    assert output.count("Job OK") == 2  # both deliveries reached the worker
    with new_session() as session:
        row = session.get(StoryAudio, done.row_id)
        assert row is not None and row.status == "completed" and row.attempts == 1
    files = list((get_settings().media_path / "tts/story").iterdir())
    assert len(files) == 1


def test_the_worker_command_also_checks_alerts_and_runs_the_hourly_maintenance(
    demo: None, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """The engine's worker imports nothing of operations: `narration-desk worker` hands it the
    housekeeping (workers/operations/housekeeping.py), and a worker it starts does both."""
    _burst(caplog)

    assert redis.exists(CHECK_LOCK) and redis.exists(MAINTENANCE_LOCK)
    with new_session() as session:
        runs = select(func.count()).select_from(MaintenanceRun).where(MaintenanceRun.trigger == "schedule")
        assert session.scalar(runs) == 1


def test_empty_text_from_the_django_side_fails_with_a_reason(
    demo: None, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    row_id = _insert_like_django(1, "   ")
    _burst(caplog)
    with new_session() as session:
        row = session.get(SceneAudio, row_id)
        assert row is not None and row.status == "failed"
        # The sentence submit refuses with: the worker checks Django's rows by the same rules.
        assert row.error_message == (
            "The text is empty (or only spaces and invisible characters). Write or paste the text to narrate."
        )
