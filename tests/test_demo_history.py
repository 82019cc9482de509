"""`seed-demo --rows N`: the history it writes is plausible, complete, and consistent with the triggers.

The load skips the triggers and writes their work itself (`db.bulk_load`), so the rows are
compared with copies inserted the ordinary way, with every trigger firing; and it rebuilds a
small table's indexes, so they are compared with what the migrations made.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from db import bulk_load
from db.engine import get_engine, new_session, reset_engine
from db.settings import get_settings
from workers.cli import main
from workers.engine.catalogue import model
from workers.operations.demo_history import DAYS, SCHEDULED, HistoryRefused, seed_history
from workers.operations.maintenance import run_maintenance

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


def test_times_are_utc_whatever_zone_the_connection_is_in(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGTZ", "Pacific/Auckland")  # libpq sets every session's TimeZone from it
    reset_engine()
    now = datetime.now(UTC)
    seed_history(300, now=now)
    queued = _rows("SELECT DISTINCT created_at FROM tts_sceneaudio WHERE status = 'queued'")
    assert queued == [(now - timedelta(minutes=5),)], "the scheduled jobs were made five minutes before `now`"
    (first_due, last_due) = _rows("SELECT min(scheduled_at), max(scheduled_at) FROM tts_sceneaudio")[0]
    assert now < first_due and last_due < now + timedelta(days=7)


def test_a_single_row_seeds_one_kind(db: str) -> None:
    made = seed_history(1)
    assert (made.stories, made.scenes) in {(1, 0), (0, 1)}
    assert _rows(f"SELECT count(*) FROM ({BOTH.replace('*', 'id')}) b") == [(1,)]


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


TABLES = ("tts_storyaudio", "tts_sceneaudio")
TRIGGER_FILLED = {"theme_id", "characters_billed", "narrated_story_id"}
"""Columns the 0003, 0006 and 0009 triggers write."""


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _copied_the_ordinary_way(table: str) -> int:
    """Insert a copy of every seeded row with a plain INSERT, leaving the trigger-filled columns to
    the triggers; each copy's task_id names its original. The number of copies."""
    columns = [
        str(name)
        for (name,) in _rows(
            f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}' ORDER BY ordinal_position"
        )
        if name not in TRIGGER_FILLED | {"id", "task_id"}
    ]
    listed = ", ".join(columns)
    with get_engine().begin() as connection:
        return connection.execute(
            text(f"INSERT INTO {table} ({listed}, task_id) SELECT {listed}, 'copy-of-' || id FROM {table}")
        ).rowcount


def _differing_from_copies(table: str) -> int:
    """Seeded rows whose trigger-filled columns or tag links differ from their copy's."""
    links, owner = f"{table}_tags", f"{table.removeprefix('tts_')}_id"
    present = {
        str(c) for (c,) in _rows(f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'")
    }
    compared = ", ".join(f"{{t}}.{c}" for c in sorted(TRIGGER_FILLED & present))
    (count,) = _rows(
        f"SELECT count(*) FROM {table} o JOIN {table} c ON c.task_id = 'copy-of-' || o.id "
        f"WHERE ({compared.format(t='o')}) IS DISTINCT FROM ({compared.format(t='c')}) "
        f"OR ARRAY(SELECT tag_id FROM {links} WHERE {owner} = o.id ORDER BY 1) "
        f"IS DISTINCT FROM ARRAY(SELECT tag_id FROM {links} WHERE {owner} = c.id ORDER BY 1)"
    )[0]
    return int(count)


def _assert_rows_match_the_triggers() -> None:
    for table in TABLES:
        (seeded,) = _rows(f"SELECT count(*) FROM {table}")[0]
        assert _copied_the_ordinary_way(table) == seeded > 0
        assert _differing_from_copies(table) == 0, f"{table}: what the load wrote is what the triggers write"
    (billed,) = _rows("SELECT count(*) FROM tts_sceneaudio WHERE status = 'completed' AND characters_billed > 0")[0]
    (tagged,) = _rows("SELECT count(*) FROM tts_sceneaudio_tags")[0]
    assert billed > 0 and tagged > 0, "the comparison covered filled columns and links, not only NULLs"


def _indexes() -> dict[str, tuple[int, str]]:
    """Index name -> (oid, definition) on both narration tables, for valid and ready indexes only."""
    return {
        str(name): (int(oid), str(definition))
        for name, oid, definition in _rows(
            "SELECT indexrelid::regclass::text, indexrelid::oid, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid IN ('tts_storyaudio'::regclass, 'tts_sceneaudio'::regclass) AND indisvalid AND indisready"
        )
    }


def test_the_rows_carry_what_the_triggers_would_have_written(db: str) -> None:
    seed_history(3000)
    seed_history(500)  # onto tables larger than the load: indexes kept, rows added in place
    _assert_rows_match_the_triggers()


def test_indexes_come_back_as_the_migrations_made_them_and_serve_the_history(db: str) -> None:
    before = _indexes()
    seed_history(3000)
    rebuilt = _indexes()
    seed_history(500)
    after = _indexes()

    definitions = {name: definition for name, (_, definition) in before.items()}
    assert {name: definition for name, (_, definition) in after.items()} == definitions
    assert rebuilt["ix_tts_sceneaudio_history"][0] != before["ix_tts_sceneaudio_history"][0], (
        "an empty table's indexes are built once after the load"
    )
    assert after["ix_tts_sceneaudio_history"][0] == rebuilt["ix_tts_sceneaudio_history"][0], (
        "a table larger than the load keeps its indexes"
    )
    plan = "\n".join(
        str(line)
        for (line,) in _rows(
            "EXPLAIN (ANALYZE, COSTS OFF) SELECT status, provider, count(*) FROM tts_sceneaudio "
            "WHERE created_at >= now() - interval '2 days' GROUP BY 1, 2"
        )
    )
    assert "Index Only Scan using ix_tts_sceneaudio_history" in plan and "Heap Fetches: 0" in plan, plan


def test_a_writer_mid_transaction_neither_blocks_the_load_nor_loses_its_triggers(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The load asks for the locked table for LOCK_WAIT, then keeps its indexes: what is checked is
    # that it gives up and loses nothing, not how long it asks (2 s of this test's 2.5 s before).
    monkeypatch.setattr(bulk_load, "LOCK_WAIT", "100ms")
    seed_history(10)
    (image,) = _rows("SELECT min(image_id) FROM tts_sceneaudio")[0]
    before = _indexes()
    with psycopg.connect(_plain(db)) as writer, ThreadPoolExecutor(1) as pool:
        writer.execute(
            "INSERT INTO tts_sceneaudio (prompt, provider, status, created_at, updated_at, image_id, theme, tags) "
            "VALUES ('Live', 'local', 'queued', now(), now(), %s, 'Live theme', '{live}')",
            (image,),
        )
        try:
            made = pool.submit(seed_history, 500).result(timeout=300)  # the writer's transaction is still open
        finally:
            writer.commit()
    assert made.stories + made.scenes == 500
    assert _indexes()["ix_tts_sceneaudio_history"] == before["ix_tts_sceneaudio_history"], (
        "a table another session has locked keeps its indexes instead of queueing everyone behind the load"
    )
    assert _rows(
        "SELECT t.name, g.name FROM tts_sceneaudio s JOIN tts_theme t ON t.id = s.theme_id "
        "JOIN tts_sceneaudio_tags l ON l.sceneaudio_id = s.id JOIN tts_tag g ON g.id = l.tag_id WHERE s.prompt = 'Live'"
    ) == [("Live theme", "live")]


@contextmanager
def _connected_as(db: str, monkeypatch: pytest.MonkeyPatch, *, owner: bool) -> Iterator[None]:
    """The app connects as a new role without superuser rights: the owner of every table, or a role
    merely granted what the Django app's role would have (read, write, use the sequences)."""
    role = f"nd_seed_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_plain(db), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} NOLOGIN".encode())
        tables = [name for (name,) in admin.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for table in tables:
            if owner:
                admin.execute(f"ALTER TABLE {table} OWNER TO {role}".encode())
            else:
                admin.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}".encode())
        admin.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}".encode())
        if owner:
            admin.execute(f"GRANT CREATE ON SCHEMA public TO {role}".encode())  # as the role that ran the migrations
    monkeypatch.setenv(
        "DATABASE_URL",
        make_url(db).update_query_dict({"options": f"-c role={role}"}).render_as_string(hide_password=False),
    )
    get_settings.cache_clear()
    reset_engine()
    try:
        yield
    finally:
        monkeypatch.setenv("DATABASE_URL", db)
        get_settings.cache_clear()
        reset_engine()
        with psycopg.connect(_plain(db), autocommit=True) as admin:
            admin.execute(f"REASSIGN OWNED BY {role} TO CURRENT_USER".encode())
            admin.execute(f"DROP OWNED BY {role}".encode())
            admin.execute(f"DROP ROLE {role}".encode())


def test_a_table_owner_without_superuser_rights_seeds_the_same_rows(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with _connected_as(db, monkeypatch, owner=True):
        (superuser,) = _rows("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0]
        made = seed_history(1000)
    assert superuser is False and made.stories + made.scenes == 1000
    _assert_rows_match_the_triggers()
    enabled = _rows(
        "SELECT DISTINCT tgenabled FROM pg_trigger WHERE NOT tgisinternal "
        "AND tgrelid IN ('tts_storyaudio'::regclass, 'tts_sceneaudio'::regclass)"
    )
    assert enabled == [("O",)], "the owner switched the triggers off only inside its transaction"


def test_a_role_that_owns_nothing_is_told_who_can_seed(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with _connected_as(db, monkeypatch, owner=False):
        assert main(["seed-demo", "--rows", "100"]) == 2
    assert "needs its owner, a superuser" in capsys.readouterr().err
    assert _rows(f"SELECT count(*) FROM ({BOTH.replace('*', 'id')}) b") == [(0,)]


def test_a_trigger_the_load_does_not_know_stops_it(db: str) -> None:
    with get_engine().begin() as connection:
        connection.execute(
            text("CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$")
        )
        connection.execute(text("CREATE TRIGGER tts_sceneaudio_stamp BEFORE INSERT ON tts_sceneaudio "
                                "FOR EACH ROW EXECUTE FUNCTION stamp()"))  # fmt: skip
    with pytest.raises(RuntimeError, match="tts_sceneaudio_stamp"):
        seed_history(100)
    assert _rows("SELECT count(*) FROM tts_sceneaudio") == [(0,)]
