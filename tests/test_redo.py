"""Redoing a passage of a completed narration never changes its status or its audio until the new
audio is ready; a cancelled or failed redo leaves it completed with the audio it had, and says so on
the passage. Real PostgreSQL and Redis, fake OpenAI at the HTTP level, and for the crash case real
worker processes."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update

from dashboard.views import ChunkLine, load_detail, load_view, passage_audio
from db import heartbeats, redo
from db.engine import new_session
from db.library import Filters
from db.lifecycle import requeue_orphans
from db.models import Chunk, Event, StoryAudio, WorkerBeat
from db.settings import get_settings
from tests.factories import staff_user
from tests.fake_providers import FakeProviders
from tests.test_long_text import long_story
from tests.test_reliability import OPENAI
from tests.workers_env import WorkersStarter, wait_until
from workers.engine.jobs import synthesize
from workers.engine.redo import new_chunk_path
from workers.engine.store import media_store
from workers.operations.maintenance import run_maintenance
from workers.service import actions
from workers.service.submit import Request, submit


@dataclass(frozen=True)
class Audio:
    """What a listener and the Django app get from a narration row."""

    status: str
    audio_file: str | None
    file_sha256: str
    base64_sha256: str
    duration_seconds: float | None


def audio_of(row_id: int) -> Audio:
    """Read in its own session and connection, as the Django app (or a page) would, mid-run."""
    with new_session() as session:
        row = session.execute(
            text("SELECT status, audio_file, base64_audio, duration_seconds FROM tts_storyaudio WHERE id = :id"),
            {"id": row_id},
        ).one()
    data = (get_settings().media_path / str(row.audio_file)).read_bytes()
    return Audio(
        row.status,
        row.audio_file,
        hashlib.sha256(data).hexdigest(),
        hashlib.sha256(str(row.base64_audio).encode()).hexdigest(),
        row.duration_seconds,
    )


def passages(row_id: int) -> list[ChunkLine]:
    detail = load_detail("story", row_id)
    assert detail is not None
    return detail.chunks


def happened(row_id: int, kind: str = "story") -> list[str]:
    with new_session() as session:
        query = session.query(Event).filter(Event.narration_kind == kind, Event.narration_id == row_id)
        return [e.what for e in query.order_by(Event.at, Event.id)]


def chunk_files() -> set[str]:
    folder = get_settings().media_path / "tts/chunks"
    return {str(p.relative_to(get_settings().media_path)) for p in folder.rglob("*.pcm")}


def completed_story(fake: FakeProviders) -> int:
    row_id = submit(Request(kind="story", target_id=1, prompt=long_story(9_000), **OPENAI)).row_id
    assert "completed" in synthesize("story", row_id)
    assert len(fake.calls) == 3
    return row_id


def in_background(row_id: int) -> tuple[threading.Thread, list[str]]:
    """Run the job in a thread, as a worker would, so the test can look at the rows meanwhile."""
    said: list[str] = []
    job = threading.Thread(target=lambda: said.append(synthesize("story", row_id)))
    job.start()
    return job, said


def redo_state(row_id: int, idx: int) -> str | None:
    with new_session() as session:
        chunk = session.query(Chunk).filter(Chunk.story_audio_id == row_id, Chunk.idx == idx).one()
        return chunk.redo_state


def requests(row_id: int, idx: int) -> int:
    """How many provider requests a passage has cost (counted before each is sent)."""
    with new_session() as session:
        chunk = session.query(Chunk).filter(Chunk.story_audio_id == row_id, Chunk.idx == idx).one()
        return chunk.provider_calls


def test_a_redo_keeps_the_narration_completed_with_its_audio_until_the_new_audio_is_swapped_in(
    fake: FakeProviders,
) -> None:
    editor = staff_user("editor")
    row_id = completed_story(fake)
    before = audio_of(row_id)
    old = passages(row_id)
    new_text = old[1].text + " The end came quietly."  # a longer passage: audibly different

    said = actions.redo_chunk("story", row_id, 1, new_text, editor)

    assert said.startswith(f"Queued passage 2 of story narration #{row_id} again") and "stays completed" in said
    assert audio_of(row_id) == before  # queued: nothing a listener or Django sees has changed
    view = load_view("story", row_id)
    assert view is not None and view.redo_passages == (2,) and not view.pending
    detail = load_detail("story", row_id)
    assert detail is not None and "Passage 2 is being narrated again" in str(detail.redo_refusal)

    fake.latency = 1.5  # the passage's request takes a while: look at the row meanwhile
    job, outcome = in_background(row_id)
    wait_until(lambda: redo_state(row_id, 1) == "processing", timeout=10, what="the redo to start")
    assert audio_of(row_id) == before  # running: still the same completed narration
    assert [c.state for c in passages(row_id)] == ["done", "done · redo processing", "done"]
    job.join(timeout=30)

    assert outcome and "redo completed" in outcome[0]
    after = audio_of(row_id)
    assert after.status == "completed" and after.file_sha256 != before.file_sha256
    assert not (get_settings().media_path / str(before.audio_file)).exists()  # the old file went after the swap
    assert [c.text for c in fake.calls[3:]] == [new_text]  # one paid request, for that passage only
    now = passages(row_id)
    assert [c.text for c in now] == [old[0].text, new_text, old[2].text]
    assert [c.audio_path for c in now][::2] == [c.audio_path for c in old][::2]  # the others are reused as they are
    assert now[1].audio_path != old[1].audio_path and chunk_files() == {str(c.audio_path) for c in now}
    assert [c.state for c in now] == ["done", "done · redo done", "done"]
    with new_session() as session:
        row = session.get(StoryAudio, row_id)
        assert row is not None and new_text in row.prompt and row.redo_state is None
        assert row.audio_metadata is not None and row.audio_metadata["duration_seconds"] == row.duration_seconds
    assert happened(row_id) == ["submitted", "claimed", "completed", "redo_queued", "redo_started", "redo_completed"]
    detail = load_detail("story", row_id)
    assert detail is not None and detail.redo_refusal is None
    assert [e.label for e in detail.timeline][-4:-1] == [
        "redo of passage 2 queued",
        "redo of passage 2 started",
        "redo of passage 2 completed",
    ]
    assert detail.timeline[-4].by == "editor"


def test_cancelling_a_redo_mid_run_leaves_the_narration_completed_with_the_same_audio(fake: FakeProviders) -> None:
    editor = staff_user("editor")
    row_id = completed_story(fake)
    before = audio_of(row_id)
    old = passages(row_id)
    old_passage = passage_audio(old[0])
    actions.redo_chunk("story", row_id, 0, old[0].text.upper(), editor)

    fake.latency = 1.5
    job, outcome = in_background(row_id)
    wait_until(lambda: redo_state(row_id, 0) == "processing", timeout=10, what="the redo to start")
    assert "Left" not in actions.cancel_matching(Filters(), editor)  # bulk cancel: nothing queued or running
    said = actions.cancel("story", row_id, editor)
    job.join(timeout=30)

    assert said == (
        f"Cancelled the redo of passage 1 of story narration #{row_id}; the narration keeps the audio it had."
    )
    assert outcome and "redo stopped" in outcome[0]
    assert audio_of(row_id) == before  # same status, same bytes, same preview, same length
    now = passages(row_id)
    assert [c.state for c in now] == ["done · redo cancelled", "done", "done"]
    assert [(c.text, c.audio_path) for c in now] == [(c.text, c.audio_path) for c in old]
    assert passage_audio(now[0]) == old_passage  # the old passage still plays on its own
    assert chunk_files() == {str(c.audio_path) for c in old}  # the redo's new passage file is gone
    assert happened(row_id)[-3:] == ["redo_queued", "redo_started", "redo_cancelled"]
    assert actions.cancel("story", row_id, editor).endswith("only queued or running jobs can be cancelled.")
    view = load_view("story", row_id)
    assert view is not None and view.status == "completed" and not view.redo_in_flight

    # Cancelled while still queued: the job that comes later does nothing.
    actions.redo_chunk("story", row_id, 2, None, editor)
    assert actions.cancel("story", row_id, editor).startswith("Cancelled the redo of passage 3")
    assert "nothing to do" in synthesize("story", row_id)
    assert audio_of(row_id) == before


def test_a_failed_redo_leaves_the_narration_completed_and_shows_why_on_the_passage(fake: FakeProviders) -> None:
    editor = staff_user("editor")
    row_id = completed_story(fake)
    before = audio_of(row_id)
    old = passages(row_id)

    actions.redo_chunk("story", row_id, 2, None, editor)
    fake.fail_next("quota")
    assert "redo failed" in synthesize("story", row_id)

    assert audio_of(row_id) == before
    now = passages(row_id)
    assert now[2].state.startswith("done · redo failed: ") and "quota" in now[2].state.lower()
    assert [(c.text, c.audio_path) for c in now] == [(c.text, c.audio_path) for c in old]
    assert happened(row_id)[-1] == "redo_failed"

    # A provider that keeps failing briefly: the redo waits for another try; the narration is untouched.
    actions.redo_chunk("story", row_id, 2, None, editor)
    fake.fail_next("500", times=10)
    assert "redo will retry" in synthesize("story", row_id)
    assert audio_of(row_id) == before and redo_state(row_id, 2) == "queued"
    with new_session() as session:  # its last attempt: the provider still fails
        session.execute(update(StoryAudio).where(StoryAudio.id == row_id).values(max_attempts=2))
        session.commit()
    assert "redo failed after 2 attempts" in synthesize("story", row_id)
    assert audio_of(row_id) == before
    assert passages(row_id)[2].state.startswith("done · redo failed: Gave up after 2 attempts")
    fake.clear_faults()


def test_a_redo_of_a_failed_narration_is_a_retry_and_the_first_start_is_kept(fake: FakeProviders) -> None:
    editor = staff_user("editor")
    row_id = submit(Request(kind="story", target_id=1, prompt=long_story(9_000), **OPENAI)).row_id
    fake.fail_next("quota")
    synthesize("story", row_id)
    with new_session() as session:
        first = session.get(StoryAudio, row_id)
        assert first is not None and first.status == "failed" and first.started_at is not None
        started = first.started_at

    assert actions.retry("story", row_id, editor).startswith("Queued story narration")
    fake.fail_next("quota")
    synthesize("story", row_id)
    assert actions.redo_chunk("story", row_id, 0, None, editor).startswith("Queued passage 1")
    with new_session() as session:
        assert session.get(StoryAudio, row_id).status == "queued"  # type: ignore[union-attr]
    assert "completed" in synthesize("story", row_id)

    with new_session() as session:
        row = session.get(StoryAudio, row_id)
        assert row is not None and row.status == "completed" and row.started_at == started
    attempt = ["claimed", "failed", "retried"]
    assert happened(row_id) == ["submitted", *attempt, *attempt, "claimed", "completed"]
    scene = submit(Request(kind="scene", target_id=1, prompt="Not wanted after all.", **OPENAI)).row_id
    actions.cancel("scene", scene, editor)
    assert happened(scene, "scene") == ["submitted", "cancelled"]
    detail = load_detail("story", row_id)
    assert detail is not None
    said = [(e.label, e.by) for e in detail.timeline]
    first_claim = next(i for i, (label, _) in enumerate(said) if label == "claimed")
    assert first_claim < said.index(("retried", "editor")) < said.index(("retried (passage 1)", "editor"))
    assert said.index(("retried (passage 1)", "editor")) < [label for label, _ in said].index("completed")


def test_a_worker_killed_mid_redo_is_replaced_and_the_redo_is_swapped_in_once(
    fake: FakeProviders, tmp_path: Path, workers: WorkersStarter
) -> None:
    editor = staff_user("editor")
    row_id = completed_story(fake)
    before = audio_of(row_id)
    old = passages(row_id)
    new_text = old[1].text + " Then the lamp went out."
    fake.latency = 3.0
    with workers(tmp_path) as running:
        first = running.start()
        actions.redo_chunk("story", row_id, 1, new_text, editor)
        wait_until(lambda: requests(row_id, 1) == 2, timeout=60, what="the redo's request to be sent")
        os.kill(first.pid, signal.SIGKILL)
        assert audio_of(row_id) == before
        fake.latency = 0.0
        running.start()
        wait_until(lambda: "redo_completed" in happened(row_id), timeout=90, what="the redo to be swapped in")

    after = audio_of(row_id)
    assert after.status == "completed" and after.file_sha256 != before.file_sha256
    assert happened(row_id).count("redo_completed") == 1 and "requeued" in happened(row_id)
    assert requests(row_id, 1) == 3  # the first narration's, the one in flight at the kill, its successor's
    assert [c.text for c in passages(row_id)] == [old[0].text, new_text, old[2].text]
    assert len(list((get_settings().media_path / "tts/story").iterdir())) == 1  # one narration file
    assert chunk_files() == {str(c.audio_path) for c in passages(row_id)}


def test_maintenance_keeps_a_pending_redo_and_the_passages_it_rejoins(
    fake: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    editor = staff_user("editor")
    row_id = completed_story(fake)
    before = audio_of(row_id)
    old = passages(row_id)
    new_text = old[0].text + " It was late."
    actions.redo_chunk("story", row_id, 0, new_text, editor)
    # A worker narrated the passage into its new file, then stopped before the swap.
    with new_session() as session:
        claimed = redo.claim(session, "story", row_id, worker="stopped-worker")
        assert claimed is not None
        work, todo = claimed
    new_file = new_chunk_path(work, todo[0])
    rate = int(old[0].sample_rate or 0)
    media_store().write(new_file, b"\0\1" * rate, "chunk")
    with new_session() as session:
        stored = redo.store_passage(
            session, work, todo[0].id, audio_path=new_file, sample_rate=rate, seconds=1.0, characters_billed=13
        )
        assert stored
    monkeypatch.setenv("STORAGE_QUOTA_BYTES", "1000")  # far over quota: everything deletable goes
    get_settings.cache_clear()

    report = run_maintenance("test")

    assert report["storage"]["bytes_freed"] == 0 and not report.get("stuck")
    assert chunk_files() == {new_file, *(str(c.audio_path) for c in old)}
    assert audio_of(row_id) == before and redo_state(row_id, 0) == "processing"
    with new_session() as session:
        redo.release(session, work)  # its successor picks it up and reuses the stored passage
    calls = len(fake.calls)
    assert "redo completed" in synthesize("story", row_id)
    assert len(fake.calls) == calls  # nothing paid twice
    assert [c.text for c in passages(row_id)] == [new_text, old[1].text, old[2].text]
    assert passages(row_id)[0].audio_path == new_file


def test_a_redo_given_up_on_cannot_overwrite_its_successor(fake: FakeProviders) -> None:
    editor = staff_user("editor")
    row_id = completed_story(fake)
    before = audio_of(row_id)
    actions.redo_chunk("story", row_id, 1, passages(row_id)[1].text + " Late.", editor)
    with new_session() as session:
        heartbeats.beat(session, name="partitioned", host="a", pid=1)
        claimed = redo.claim(session, "story", row_id, worker="partitioned")
        assert claimed is not None
        stale, todo = claimed
        session.execute(update(WorkerBeat).values(last_seen_at=WorkerBeat.last_seen_at - timedelta(minutes=5)))
        heartbeats.beat(session, name="alive", host="b", pid=2)
        session.commit()
        assert requeue_orphans(session, dead_after=timedelta(seconds=30)) == [("story", row_id, "partitioned")]
        assert requeue_orphans(session, dead_after=timedelta(seconds=30)) == []  # given back once
        successor = redo.claim(session, "story", row_id, worker="alive")
        assert successor is not None

        # The partitioned worker comes back and tries to record its work: every write is refused.
        assert not redo.store_passage(
            session, stale, todo[1].id, audio_path="tts/chunks/x.pcm", sample_rate=1, seconds=1.0, characters_billed=1
        )
        assert redo.swap(
            session, stale, audio_file="tts/story/x.wav", base64_audio="", duration_seconds=1.0, metadata={},
            characters_billed=1,
        ) is None  # fmt: skip
        assert redo.fail(session, stale, "too late") == []
        assert redo.interruption(session, stale) == "another worker took the redo over"
    assert audio_of(row_id) == before and redo_state(row_id, 1) == "processing"  # the successor's, untouched

    with new_session() as session:
        redo.release(session, successor[0])
    assert "redo completed" in synthesize("story", row_id)
    assert happened(row_id).count("redo_completed") == 1 and happened(row_id).count("requeued") == 1
