"""Rows for tests, written the way the Django app writes them (its columns only) or through our models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from db.engine import get_engine, new_session
from db.seed import seed_demo
from db.settings import get_settings
from db.users import create_user
from workers.service.roles import Role, SignedIn

DJANGO_SQL = Path(__file__).resolve().parent / "django_app" / "django_tables.sql"
"""The Django app's schema, as `pg_dump` printed it (a copy of ../shared/schema, kept here so
a clone runs anywhere)."""


LOCAL: dict[str, Any] = {"provider": "local", "model": "piper:en_US-joe-medium", "voice": "joe"}
"""The offline voice, as Request keywords: `Request(kind=..., target_id=..., prompt=..., **LOCAL)`."""


def load_django_schema(connection: Connection) -> None:
    connection.exec_driver_sql(DJANGO_SQL.read_text())


def django_rows(connection: Connection) -> None:
    """What a Django app in use holds: users, a project, stories, images and narrations of each state.

    Only Django's columns are named, exactly as its ORM inserts them.
    """
    connection.execute(
        text(
            """
            INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                                   is_active, date_joined)
            VALUES ('pbkdf2_sha256$870000$salt$hash', true, 'admin', '', '', 'a@example.org', true, true, now()),
                   ('pbkdf2_sha256$870000$salt$hash', false, 'writer', '', '', 'w@example.org', false, true, now());
            INSERT INTO project_project (name) VALUES ('Legacy project');
            INSERT INTO story_story (title, content, project_id)
            VALUES ('Old story', 'Once upon a time there was a test.', 1),
                   ('Second story', 'It rained all day in the valley.', 1),
                   ('Third story', 'The end came quickly.', NULL);
            INSERT INTO images_image (image, caption, story_id)
            VALUES ('images/a.png', 'A red door.', 1), ('images/b.png', 'A quiet lake.', 2);
            INSERT INTO tts_storyaudio (prompt, base64_audio, audio_file, voice_style, provider, status,
                                        model_backend, theme, tags, created_at, updated_at, project_id, story_id,
                                        user_id)
            VALUES ('Once upon a time there was a test.', 'UklGRg==', 'tts/story/old.mp3', 'nova', 'openai',
                    'completed', 'tts-1', 'Bedtime', '{calm,short}', now(), now(), 1, 1, 1),
                   ('It rained all day.', NULL, NULL, 'echo', 'openai', 'failed', 'tts-1', NULL, '{}',
                    now(), now(), 1, 2, 2);
            INSERT INTO tts_sceneaudio (prompt, base64_audio, audio_file, voice_style, provider, status, task_id,
                                        created_at, updated_at, completed_at, image_id, user_id)
            VALUES ('A red door.', NULL, NULL, 'alloy', 'openai', 'processing', 'celery-123', now(), now(), NULL,
                    1, 1),
                   ('A quiet lake.', 'UklGRg==', 'tts/scene/lake.mp3', 'nova', 'elevenlabs', 'completed', NULL,
                    now(), now(), now(), 2, NULL);
            """
        )
    )


def demo_data() -> None:
    """The demo project, stories and images, through our own models."""
    with new_session() as session:
        seed_demo(session)


def staff_user(
    username: str = "editor", *, role: Role = Role.STAFF, password: str = "a long enough secret"
) -> SignedIn:
    """A real `auth_user` row (audit columns point at it) and its signed-in session value."""
    with new_session() as session:
        user = create_user(
            session, username=username, password=password, staff=role is not Role.VIEWER,
            superuser=role is Role.SUPERUSER, groups=(get_settings().viewer_group,) if role is Role.VIEWER else (),
        )  # fmt: skip
        return SignedIn(user.id, user.username, role)


def billed(characters: int, created: str = "now()") -> None:
    """A completed tts-1 scene narration (image 1) that billed `characters` ($15 a million), created
    at the SQL time `created`: what a budget counts."""
    with get_engine().begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tts_sceneaudio (prompt, image_id, created_at, updated_at, provider, model_backend, "
                f"status, characters_billed) VALUES ('x', 1, {created}, now(), 'openai', 'tts-1', 'completed', :n)"
            ),
            {"n": characters},
        )
