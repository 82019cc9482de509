"""`seed-demo --rows N`: the history it writes is plausible, complete, and consistent with the triggers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from db.engine import get_engine, new_session
from workers.catalogue import model
from workers.cli import main
from workers.demo_history import DAYS, SCHEDULED, HistoryRefused, seed_history
from workers.maintenance import run_maintenance

BOTH = "SELECT 'story' AS kind, * FROM tts_storyaudio UNION ALL SELECT 'scene', * FROM tts_sceneaudio"


def _rows(sql: str) -> list[tuple[Any, ...]]:
    with get_engine().connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


def test_history_rows_are_plausible(db: str) -> None:
    now = datetime.now(UTC)
    made = seed_history(3000, now=now)

    assert made.stories + made.scenes == 3000 and 0.3 < made.stories / 3000 < 0.5
    counts = {
        str(s): int(c) for s, c in _rows(f"SELECT status, count(*) FROM ({BOTH.replace('*', 'status')}) b GROUP BY 1")
    }
    assert counts["queued"] == SCHEDULED
    assert 0.85 < counts["completed"] / 3000 < 0.98 and counts["failed"] > 30
    assert set(counts) == {"queued", "completed", "failed"}, "no job is left running for a worker to pick up"

    oldest, newest = _rows("SELECT min(created_at), max(created_at) FROM tts_sceneaudio")[0]
    assert now - timedelta(days=DAYS + 1) <= oldest and newest <= now
    (due,) = _rows("SELECT count(*) FROM tts_sceneaudio WHERE status = 'queued' AND scheduled_at > now()")[0]
    assert due == SCHEDULED, "queued rows are all scheduled for later"

    pairs = _rows("SELECT DISTINCT provider, model_backend FROM tts_storyaudio UNION SELECT provider, model_backend "
                  "FROM tts_sceneaudio")  # fmt: skip
    assert {p for p, _ in pairs} == {"local", "openai", "elevenlabs"}
    assert all(model(str(p), str(m)) is not None for p, m in pairs)

    (bad,) = _rows(
        "SELECT count(*) FROM tts_storyaudio WHERE status = 'completed' AND (duration_seconds IS NULL "
        "OR (audio_metadata->>'characters_billed')::int <= 0 OR started_at < created_at "
        "OR completed_at < started_at)"
    )[0]
    assert bad == 0
    (errors,) = _rows("SELECT count(DISTINCT error_message) FROM tts_sceneaudio WHERE status = 'failed'")[0]
    assert errors >= 5
    (stray,) = _rows(
        "SELECT count(*) FROM tts_chunk c JOIN tts_sceneaudio s ON s.id = c.scene_audio_id WHERE s.status <> 'failed'"
    )[0]
    assert made.chunks > 0 and stray == 0, "paid chunks belong to failed jobs only"


def test_themes_and_tags_match_what_the_triggers_would_write(db: str) -> None:
    seed_history(500)
    (wrong_theme,) = _rows(
        "SELECT count(*) FROM tts_storyaudio s LEFT JOIN tts_theme t ON t.id = s.theme_id "
        "WHERE t.name IS DISTINCT FROM s.theme"
    )[0]
    (wrong_tags,) = _rows(
        "SELECT count(*) FROM tts_sceneaudio s WHERE s.tags::text[] IS DISTINCT FROM ARRAY(SELECT g.name::text "
        "FROM tts_sceneaudio_tags l JOIN tts_tag g ON g.id = l.tag_id WHERE l.sceneaudio_id = s.id ORDER BY g.name)"
    )[0]
    assert wrong_theme == 0 and wrong_tags == 0
    enabled = _rows(
        "SELECT DISTINCT tgenabled FROM pg_trigger WHERE NOT tgisinternal "
        "AND tgrelid IN ('tts_storyaudio'::regclass, 'tts_sceneaudio'::regclass)"
    )
    assert enabled == [("O",)], "the triggers are on again after seeding"

    with get_engine().begin() as connection:  # and they still work for the next writer
        connection.execute(text("UPDATE tts_storyaudio SET theme = 'Brand new', tags = '{fresh}' WHERE id = 1"))
    assert _rows(
        "SELECT t.name, g.name FROM tts_storyaudio s JOIN tts_theme t ON t.id = s.theme_id "
        "JOIN tts_storyaudio_tags l ON l.storyaudio_id = s.id JOIN tts_tag g ON g.id = l.tag_id WHERE s.id = 1"
    ) == [("Brand new", "fresh")]


def test_refuses_a_database_with_real_projects(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with get_engine().begin() as connection:
        connection.execute(text("INSERT INTO project_project (name) VALUES ('Real customer work')"))
    with pytest.raises(HistoryRefused):
        seed_history(10)
    assert main(["seed-demo", "--rows", "10"]) == 2
    assert "mixed into real data" in capsys.readouterr().err
    assert _rows("SELECT count(*) FROM tts_storyaudio") == [(0,)]


def test_the_command_reports_what_it_added(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed-demo", "--rows", "200"]) == 0
    out = capsys.readouterr().out
    assert "Seeded the demo data." in out and "narrations of history" in out
    assert _rows(f"SELECT count(*) FROM ({BOTH.replace('*', 'id')}) b") == [(200,)]


def test_maintenance_after_seeding_cleans_old_failures_without_errors(db: str) -> None:
    """The seeder's VACUUM ran on a pooled connection switched to autocommit and never switched back:
    every later session on it lost its transaction, and maintenance's per-row savepoints failed."""
    seed_history(400)
    report = run_maintenance("test")
    assert report["errors"] == [], "every old failure the history holds was looked at without an error"
    with new_session() as session:
        assert session.execute(text("SELECT current_setting('transaction_isolation')")).scalar_one()
        session.execute(text("SAVEPOINT still_in_a_transaction"))  # raises when the connection is autocommit
