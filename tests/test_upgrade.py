"""`db upgrade` on the three databases it must handle, twice each, losing no row."""

from __future__ import annotations

from importlib import import_module

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from db.compat import DJANGO_COLUMNS, IncompatibleSchema
from db.engine import get_engine
from db.models import Base
from db.upgrade import alembic_config, upgrade
from tests.factories import django_rows, load_django_schema

HEAD = "0018"
DJANGO_TABLES = tuple(DJANGO_COLUMNS)
GROUP_TABLES: dict[str, list[str]] = import_module("db.migrations.versions.0008_django_groups").TABLES
"""Django's own DDL for its group tables (frozen in migration 0008)."""


def _schema_drift() -> list[object]:
    """What Alembic would still change to make the database match the models (should be nothing)."""
    with get_engine().connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_server_default": True, "compare_type": True})
        return list(compare_metadata(context, Base.metadata))


GROUPS = {"auth_group": 1, "auth_user_groups": 0}
"""What `db upgrade` adds to Django's group tables: the viewer group, no member."""


def _counts() -> dict[str, int]:
    """Rows of each Django table that exists (a Django dump of the shared tables has no groups)."""
    with get_engine().connect() as connection:
        return {
            t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in DJANGO_TABLES
            if connection.execute(text("SELECT to_regclass(:t)"), {"t": t}).scalar_one() is not None
        }


def test_empty_database_gets_django_tables_and_ours(empty_db: str) -> None:
    first = upgrade()
    assert first.before is None and first.after == HEAD
    assert first.rows_before == {} and first.rows_after == {**dict.fromkeys(sorted(DJANGO_TABLES), 0), **GROUPS}
    second = upgrade()
    assert not second.changed and second.before == HEAD
    assert _schema_drift() == []


def test_django_database_keeps_every_row_and_value(empty_db: str) -> None:
    with get_engine().begin() as connection:
        load_django_schema(connection)
        django_rows(connection)
        before = connection.execute(
            text("SELECT id, prompt, status, tags, theme FROM tts_storyaudio ORDER BY id")
        ).all()
    counts = _counts()

    report = upgrade()
    assert report.before is None and report.after == HEAD
    assert report.rows_before == counts and report.rows_after == {**counts, **GROUPS}
    assert upgrade().changed is False
    assert _counts() == {**counts, **GROUPS}
    assert _schema_drift() == []

    with get_engine().connect() as connection:
        after = connection.execute(text("SELECT id, prompt, status, tags, theme FROM tts_storyaudio ORDER BY id")).all()
        assert after == before
        # Backfilled: the legacy tags and theme now also live in their own tables.
        linked = connection.execute(
            text(
                "SELECT array_agg(t.name ORDER BY t.name) FROM tts_storyaudio_tags l JOIN tts_tag t ON t.id = l.tag_id "
                "WHERE l.storyaudio_id = 1"
            )
        ).scalar_one()
        assert linked == ["calm", "short"]
        theme = connection.execute(
            text("SELECT t.name FROM tts_storyaudio s JOIN tts_theme t ON t.id = s.theme_id WHERE s.id = 1")
        ).scalar_one()
        assert theme == "Bedtime"
        # Django's queued/processing/completed rows got the new columns' defaults.
        assert connection.execute(text("SELECT DISTINCT attempts, priority FROM tts_sceneaudio")).all() == [(0, 0)]


def test_older_narration_desk_database_is_brought_forward(empty_db: str) -> None:
    with get_engine().begin() as connection:
        load_django_schema(connection)
        django_rows(connection)
    with get_engine().connect() as connection:
        command.upgrade(alembic_config(connection), "0002")  # what an earlier release left behind
        connection.commit()
    counts = _counts()

    report = upgrade()
    assert (report.before, report.after) == ("0002", HEAD)
    assert _counts() == {**counts, **GROUPS}
    assert upgrade().changed is False
    assert _schema_drift() == []


def test_django_groups_and_their_members_are_kept(empty_db: str) -> None:
    """A real Django database has django.contrib.auth's groups already; they stay as they are."""
    with get_engine().begin() as connection:
        load_django_schema(connection)
        django_rows(connection)
        for statement in [s for statements in GROUP_TABLES.values() for s in statements]:
            connection.execute(text(statement))
        connection.execute(text("INSERT INTO auth_group (name) VALUES ('editors'), ('narration-viewers')"))
        connection.execute(
            text("INSERT INTO auth_user_groups (user_id, group_id) SELECT u.id, g.id FROM auth_user u, auth_group g")
        )
    counts = _counts()
    report = upgrade()
    assert report.rows_before == report.rows_after == counts  # the viewer group was there: nothing added
    with get_engine().connect() as connection:
        names = connection.execute(text("SELECT name FROM auth_group ORDER BY name")).scalars().all()
    assert names == ["editors", "narration-viewers"]
    assert _schema_drift() == []


def test_a_database_of_another_shape_is_refused_untouched(empty_db: str) -> None:
    with get_engine().begin() as connection:
        load_django_schema(connection)
        connection.execute(text("ALTER TABLE tts_storyaudio ALTER COLUMN status TYPE integer USING 0"))

    with pytest.raises(IncompatibleSchema) as refused:
        upgrade()

    assert "tts_storyaudio.status: found integer NOT NULL, expected character varying(20) NOT NULL" in str(
        refused.value
    )
    with get_engine().connect() as connection:
        tables = set(connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
    assert "alembic_version" not in tables and "tts_tag" not in tables


def test_missing_django_column_is_named(empty_db: str) -> None:
    with get_engine().begin() as connection:
        load_django_schema(connection)
        connection.execute(text("ALTER TABLE tts_sceneaudio DROP COLUMN task_id"))
    with pytest.raises(IncompatibleSchema, match=r"tts_sceneaudio\.task_id: found no such column"):
        upgrade()


def test_tags_and_theme_written_by_django_stay_in_step(db: str) -> None:
    """Whoever writes the legacy columns, the normalized tables follow (insert, update, clear)."""
    with get_engine().begin() as connection:
        django_rows(connection)
        connection.execute(text("UPDATE tts_storyaudio SET tags = '{epic,calm}', theme = 'Adventure' WHERE id = 1"))
        connection.execute(text("UPDATE tts_storyaudio SET tags = '{}', theme = NULL WHERE id = 2"))
    with get_engine().connect() as connection:
        rows = connection.execute(
            text(
                """SELECT s.id, th.name, (SELECT array_agg(t.name ORDER BY t.name) FROM tts_storyaudio_tags l
                                          JOIN tts_tag t ON t.id = l.tag_id WHERE l.storyaudio_id = s.id)
                   FROM tts_storyaudio s LEFT JOIN tts_theme th ON th.id = s.theme_id ORDER BY s.id"""
            )
        ).all()
    assert rows == [(1, "Adventure", ["calm", "epic"]), (2, None, None)]


def test_deleting_a_story_keeps_its_paid_audio(db: str) -> None:
    """ON DELETE rules as documented: story → SET NULL, image → CASCADE, user → SET NULL."""
    with get_engine().begin() as connection:
        django_rows(connection)
        connection.execute(text("DELETE FROM tts_storyaudio WHERE story_id = 2"))
        connection.execute(text("DELETE FROM story_story WHERE id = 3"))
        connection.execute(text("UPDATE images_image SET story_id = NULL; DELETE FROM story_story WHERE id = 1"))
        connection.execute(text("DELETE FROM images_image WHERE id = 1"))
        connection.execute(text("DELETE FROM auth_user WHERE username = 'admin'"))
    with get_engine().connect() as connection:
        story_audio = connection.execute(text("SELECT id, story_id, user_id FROM tts_storyaudio")).all()
        scene_images = connection.execute(text("SELECT image_id, user_id FROM tts_sceneaudio ORDER BY id")).all()
    assert story_audio == [(1, None, None)]
    assert scene_images == [(2, None)]
