"""The Django app keeps working after `db upgrade`: proved with Django's own ORM, in a subprocess."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import text

from db import redo
from db.engine import get_engine, new_session
from db.upgrade import upgrade
from tests.factories import django_rows, load_django_schema, staff_user
from tests.live import Commands
from workers.engine.jobs import synthesize
from workers.service import actions


def _django_probe(commands: Commands, url: str, media_root: Path) -> dict[str, Any]:
    done = commands.run([sys.executable, "-m", "tests.django_app.probe", url, str(media_root)])
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _narrate_a_row_django_queued() -> None:
    """Django's tables and rows, one scene narration (#3) Django queued, the upgrade, and a Narration
    Desk worker narrating that row with the local voice."""
    with get_engine().begin() as connection:
        load_django_schema(connection)
        django_rows(connection)
        connection.execute(
            text(
                "INSERT INTO tts_sceneaudio (prompt, provider, status, created_at, updated_at, image_id) "
                "VALUES ('The red door creaks open.', 'local', 'queued', now(), now(), 1)"
            )
        )
    upgrade()
    assert "completed" in synthesize("scene", 3)


def test_django_orm_reads_and_writes_the_upgraded_schema(empty_db: str, tmp_path: Path, commands: Commands) -> None:
    _narrate_a_row_django_queued()

    seen = _django_probe(commands, empty_db, tmp_path / "media")

    assert seen["users"] == ["admin", "writer"]
    assert [(a["id"], a["status"], a["tags"], a["theme"]) for a in seen["story_audio"]] == [
        (1, "completed", ["calm", "short"], "Bedtime"),
        (2, "failed", [], None),
    ]
    assert [(a["id"], a["status"], a["task_id"]) for a in seen["scene_audio"]] == [
        (1, "processing", "celery-123"),
        (2, "completed", None),
        (3, "completed", None),
    ]
    ours = seen["scene_audio"][2]
    assert ours["audio_file"].startswith("tts/scene/") and ours["file_exists"] is True

    # Django's inserts named only its own columns; our defaults and triggers filled in the rest.
    with get_engine().connect() as connection:
        story = connection.execute(
            text(
                "SELECT s.status, s.attempts, s.priority, th.name, (SELECT array_agg(t.name ORDER BY t.name) "
                "FROM tts_storyaudio_tags l JOIN tts_tag t ON t.id = l.tag_id WHERE l.storyaudio_id = s.id) "
                "FROM tts_storyaudio s LEFT JOIN tts_theme th ON th.id = s.theme_id WHERE s.id = :id"
            ),
            {"id": seen["inserted"]["story_audio"]},
        ).one()
        scene = connection.execute(
            text("SELECT status, model_backend, tags, attempts FROM tts_sceneaudio WHERE id = :id"),
            {"id": seen["inserted"]["scene_audio"]},
        ).one()
    assert tuple(story) == ("queued", 0, 0, "Compat", ["django", "new"])
    assert tuple(scene) == ("queued", "", [], 0)


def test_django_reads_a_narration_being_redone_and_then_cancelled_as_completed_with_its_file(
    empty_db: str, redis: Redis, tmp_path: Path, commands: Commands
) -> None:
    _narrate_a_row_django_queued()
    editor = staff_user("editor")
    assert actions.redo_chunk("scene", 3, 0, "The red door slams shut.", editor).startswith("Queued passage 1")
    with new_session() as session:
        assert redo.claim(session, "scene", 3, worker="busy-worker") is not None  # a worker is narrating it

    running = _django_probe(commands, empty_db, tmp_path / "media")["scene_audio"][2]
    assert "Cancelled the redo of passage 1" in actions.cancel("scene", 3, editor)
    cancelled = _django_probe(commands, empty_db, tmp_path / "media")["scene_audio"][2]

    assert running == cancelled
    assert (running["status"], running["file_exists"]) == ("completed", True)
