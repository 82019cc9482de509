"""`narration-desk maintenance`: stuck jobs, old failures, the storage quota, oversized previews."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
from redis import Redis
from sqlalchemy import update

from db import events
from db.engine import new_session
from db.models import AlertSpan, Chunk, Event, MaintenanceRun, SceneAudio
from db.narrations import now
from db.settings import get_settings
from tests.factories import LOCAL, demo_data
from tests.live import Commands
from tests.test_long_text import long_story
from workers.engine.jobs import synthesize
from workers.operations.maintenance import run_maintenance
from workers.service.submit import Request, submit


@pytest.fixture
def demo(db: str, redis: Redis) -> Iterator[None]:
    demo_data()
    yield


def _narrate(text: str, image: int = 1) -> int:
    row_id = submit(Request(kind="scene", target_id=image, prompt=text, **LOCAL)).row_id
    synthesize("scene", row_id)
    return row_id


def _age(row_id: int, **columns: timedelta) -> None:
    with new_session() as session:
        session.query(SceneAudio).filter_by(id=row_id).update(
            {getattr(SceneAudio, name): getattr(SceneAudio, name) - delta for name, delta in columns.items()}
        )
        session.commit()


def test_stuck_jobs_are_requeued_or_failed_on_their_last_attempt(demo: None) -> None:
    stuck = submit(Request(kind="scene", target_id=1, prompt="Stuck.", **LOCAL)).row_id
    last = submit(Request(kind="scene", target_id=2, prompt="Last try.", **LOCAL)).row_id
    with new_session() as session:
        for row_id, attempts in ((stuck, 1), (last, 3)):
            session.query(SceneAudio).filter_by(id=row_id).update(
                {"status": "processing", "started_at": SceneAudio.created_at - timedelta(hours=2), "attempts": attempts}
            )
        session.commit()

    report = run_maintenance("manual")

    assert sorted(report["stuck"]) == sorted([f"scene #{stuck} requeued", f"scene #{last} failed"])
    with new_session() as session:
        assert session.get(SceneAudio, stuck).status == "queued"  # type: ignore[union-attr]
        assert session.get(SceneAudio, last).status == "failed"  # type: ignore[union-attr]
        assert session.query(MaintenanceRun).one().report == json.loads(json.dumps(report))


def test_old_failures_lose_their_files_but_keep_their_rows(demo: None) -> None:
    row_id = _narrate("This one will fail later.")
    path = get_settings().media_path / str(_audio_file(row_id))
    with new_session() as session:
        session.query(SceneAudio).filter_by(id=row_id).update({"status": "failed", "error_message": "x"})
        session.commit()
    _age(row_id, updated_at=timedelta(days=31))

    report = run_maintenance("manual")

    assert report["failed_rows_cleaned"] == 1 and report["failed_files_deleted"] >= 2  # the file and its chunk
    assert not path.exists()
    with new_session() as session:
        row = session.get(SceneAudio, row_id)
        assert row is not None and row.status == "failed" and row.audio_file is None
        assert session.query(Chunk).filter_by(scene_audio_id=row_id).count() == 0


def _audio_file(row_id: int) -> str | None:
    with new_session() as session:
        row = session.get(SceneAudio, row_id)
        return row.audio_file if row else None


def test_over_quota_deletes_superseded_files_then_chunks_never_the_only_audio(
    demo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep = _narrate("The bells rang out over the square at noon.")
    media = get_settings().media_path
    superseded = media / "tts/scene/scene-99-old.wav"
    superseded.write_bytes(b"\0" * 400_000)
    used = sum(p.stat().st_size for p in media.rglob("*") if p.is_file())
    only_audio = (media / str(_audio_file(keep))).stat().st_size
    monkeypatch.setenv("STORAGE_QUOTA_BYTES", str(only_audio + 1))
    get_settings.cache_clear()

    report = run_maintenance("manual")["storage"]

    assert report["bytes_used_before"] == used
    assert not superseded.exists()
    assert (media / str(_audio_file(keep))).is_file()  # the only audio of a completed row stays
    assert report["bytes_used_after"] == only_audio
    assert "warning" not in report

    monkeypatch.setenv("STORAGE_QUOTA_BYTES", "1000")
    get_settings.cache_clear()
    report = run_maintenance("manual")["storage"]
    assert (media / str(_audio_file(keep))).is_file()
    assert "only audio of completed narrations" in report["warning"]


def test_oversized_previews_are_cut_to_the_limit(demo: None, monkeypatch: pytest.MonkeyPatch) -> None:
    row_id = _narrate(long_story(200))  # a few seconds of audio: its preview is well over the limit below
    with new_session() as session:
        assert len(session.get(SceneAudio, row_id).base64_audio or "") > 2 * 40_000  # type: ignore[union-attr]
    monkeypatch.setenv("PREVIEW_MAX_BYTES", "40000")
    get_settings.cache_clear()

    assert run_maintenance("manual")["previews_shrunk"] == 1
    with new_session() as session:
        row = session.get(SceneAudio, row_id)
        assert row is not None and row.base64_audio and 0 < len(row.base64_audio) <= 40_000


def test_the_command_prints_the_report(demo: None, commands: Commands) -> None:
    done = commands.run([sys.executable, "-m", "workers.cli", "maintenance"], timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {
        "stuck", "failed_rows_cleaned", "failed_files_deleted", "previews_shrunk", "storage", "alert_spans_pruned",
        "events_pruned", "refused_paths", "previews_kept", "errors",
    }  # fmt: skip
    assert report["storage"]["bytes_used_before"] == 0
    assert report["refused_paths"] == report["previews_kept"] == report["errors"] == []


def test_alert_history_older_than_a_year_is_pruned(demo: None) -> None:
    today = now()
    with new_session() as session:
        session.add_all(
            [
                AlertSpan(key="queue-age", message="old", started_at=today - timedelta(days=400),
                          last_seen_at=today - timedelta(days=400), ended_at=today - timedelta(days=399)),
                AlertSpan(key="queue-age", message="recent", started_at=today - timedelta(days=10),
                          last_seen_at=today - timedelta(days=10), ended_at=today - timedelta(days=9)),
                AlertSpan(key="storage", message="holds for long", started_at=today - timedelta(days=500),
                          last_seen_at=today, ended_at=None),
            ]
        )  # fmt: skip
        session.commit()
    assert run_maintenance("test")["alert_spans_pruned"] == 1
    with new_session() as session:
        assert sorted(s.message for s in session.query(AlertSpan)) == ["holds for long", "recent"]


def test_events_past_their_retention_are_deleted_and_the_rest_kept(demo: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_RETENTION_DAYS", "30")
    get_settings.cache_clear()
    today = now()
    with new_session() as session:
        for days, message in [(31, "old"), (29, "recent")]:
            events.record(session, "story", 1, events.What.RETRIED, message=message)
            session.flush()
            session.execute(update(Event).where(Event.message == message).values(at=today - timedelta(days=days)))
        session.commit()
    pruned = run_maintenance("test")["events_pruned"]
    with new_session() as session:
        kept = session.query(Event).filter(Event.message.in_(["old", "recent"]))
        assert [e.message for e in kept] == ["recent"]
        assert session.query(Event).filter(Event.at < today - timedelta(days=30)).count() == 0
    assert pruned >= 1
