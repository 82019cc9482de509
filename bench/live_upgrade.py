"""Live upgrade: `db upgrade` from the oldest revision to head on 1,000,000 narrations while a client
writes as the Django app does, and the longest any of its statements waited.

The database is what the Django app made (its own DDL, revision 0001) with ROWS narrations, 40 %
stories and 60 % scenes, in Django's columns only, seeded by SQL. The client is another process on
its own connection, in autocommit as Django's ORM runs: in turn it inserts a story narration and a
scene narration naming only Django's columns, and updates a random existing row of each (status
and `updated_at`, as `save()` would), PAUSE apart, timing each statement. The baseline is the same
client for BASELINE_SECONDS on the same database with no upgrade running. With LIVE_UPGRADE_OLD=1
the migrations as they were before (commit BEFORE, read from git: one transaction for the whole
upgrade) run afterwards on a second database, for contrast.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import subprocess
import tempfile
import time
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import psycopg
from alembic import command
from redis import Redis
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from db.engine import reset_engine
from db.settings import get_settings, sqlalchemy_url
from db.upgrade import alembic_config, upgrade
from tests.factories import load_django_schema

ROWS = int(os.environ.get("LIVE_UPGRADE_ROWS", "1000000"))
BASELINE_SECONDS = 20.0
PAUSE = 0.005
DATABASE = "database_live_upgrade"
BEFORE = "3f32ba4"
"""The last commit whose migrations ran the whole upgrade in one transaction."""
ROOT = Path(__file__).resolve().parents[1]

SEED = """
SET session_replication_role = replica;  -- a seed of Django's rows: its FK checks are not what is measured
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
    SELECT 'pbkdf2_sha256$870000$salt$hash', false, 'user' || i, '', '', '', false, true, now()
    FROM generate_series(1, 1000) AS i;
INSERT INTO project_project (name) SELECT 'Project ' || i FROM generate_series(1, 20) AS i;
INSERT INTO story_story (title, content, project_id)
    SELECT 'Story ' || i, 'Once upon a time, ' || i, 1 + i % 20 FROM generate_series(1, {stories}) AS i;
INSERT INTO images_image (image, caption, story_id)
    SELECT 'images/' || i || '.png', 'Scene ' || i, 1 + i % {stories} FROM generate_series(1, 5000) AS i;
INSERT INTO tts_storyaudio (prompt, base64_audio, audio_file, voice_style, provider, status, model_backend, theme,
                            tags, created_at, updated_at, project_id, story_id, user_id)
    SELECT 'Once upon a time, ' || i || repeat(' and then the tide came in', 8),
           CASE WHEN i % 10 < 7 THEN repeat('UklGRg==', 25) END,
           CASE WHEN i % 10 < 7 THEN 'tts/story/' || i || '.mp3' END,
           'nova', 'openai', (ARRAY['completed','completed','completed','failed','queued'])[1 + i % 5], 'tts-1',
           CASE WHEN i % 2 = 0 THEN 'Theme ' || i % 20 END,
           CASE WHEN i % 3 = 0 THEN ARRAY['tag' || i % 30, 'tag' || (i + 7) % 30]::varchar(50)[] ELSE '{{}}' END,
           now() - (i || ' seconds')::interval, now(), 1 + i % 20, CASE WHEN i <= {stories} THEN i END, 1 + i % 1000
    FROM generate_series(1, {stories}) AS i;
INSERT INTO tts_sceneaudio (prompt, base64_audio, audio_file, voice_style, provider, status, task_id, created_at,
                            updated_at, completed_at, image_id, user_id)
    SELECT 'A quiet lake, ' || i, CASE WHEN i % 10 < 7 THEN repeat('UklGRg==', 25) END,
           CASE WHEN i % 10 < 7 THEN 'tts/scene/' || i || '.mp3' END, 'alloy', 'openai',
           (ARRAY['completed','completed','completed','failed','queued'])[1 + i % 5], NULL,
           now() - (i || ' seconds')::interval, now(), CASE WHEN i % 5 < 3 THEN now() END, 1 + i % 5000, 1 + i % 1000
    FROM generate_series(1, {scenes}) AS i;
"""

STATEMENTS = {
    "insert story": """INSERT INTO tts_storyaudio (prompt, base64_audio, audio_file, voice_style, provider, status,
                           model_backend, theme, tags, created_at, updated_at, project_id, story_id, user_id)
                       VALUES ('Meanwhile, a new story.', NULL, NULL, 'nova', 'openai', 'queued', 'tts-1', 'Theme 1',
                               '{tag1}', now(), now(), 1, NULL, 1)""",
    "insert scene": """INSERT INTO tts_sceneaudio (prompt, base64_audio, audio_file, voice_style, provider, status,
                           task_id, created_at, updated_at, completed_at, image_id, user_id)
                       VALUES ('Meanwhile, a scene.', NULL, NULL, 'alloy', 'openai', 'queued', NULL, now(), now(),
                               NULL, 1, 1)""",
    "update story": "UPDATE tts_storyaudio SET status = 'failed', updated_at = now() WHERE id = %s",
    "update scene": "UPDATE tts_sceneaudio SET status = 'failed', updated_at = now() WHERE id = %s",
}


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin(server: str) -> str:
    """The server's maintenance database: the bench's own may be dropped by another run meanwhile."""
    return _plain(make_url(server).set(database="postgres").render_as_string(hide_password=False))


def _client(url: str, rows: int, stop: EventType, out: str) -> None:
    """Write as Django does until `stop`; each statement's start (monotonic) and seconds, to `out`."""
    latencies: list[str] = []
    with psycopg.connect(url, autocommit=True) as connection:
        while not stop.is_set():
            for name, statement in STATEMENTS.items():
                bound = (random.randint(1, int(rows * 0.4)),) if name.startswith("update") else None  # noqa: S311
                started = time.monotonic()
                connection.execute(statement, bound)
                latencies.append(f"{started} {time.monotonic() - started} {name}")
                time.sleep(PAUSE)
    Path(out).write_text("\n".join(latencies))


class Client:
    """The Django-like writer in a process of its own, so its timings share no GIL with the upgrade."""

    def __init__(self, url: str, folder: Path, label: str) -> None:
        self.out = folder / f"{label}.txt"
        self.stop = multiprocessing.Event()
        self.process = multiprocessing.Process(target=_client, args=(url, ROWS, self.stop, str(self.out)))

    def __enter__(self) -> Client:
        self.process.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.process.join()

    def latencies(self) -> dict[str, list[float]]:
        """Each kind of statement's seconds, sorted."""
        kinds: dict[str, list[float]] = {}
        for line in self.out.read_text().splitlines():
            _, seconds, kind = line.split(" ", 2)
            kinds.setdefault(kind, []).append(float(seconds))
        return {kind: sorted(each) for kind, each in kinds.items()}


def _figures(label: str, kinds: dict[str, list[float]]) -> dict[str, float]:
    """Over all statements, and the longest of each kind: an UPDATE waits for a backfill's batch that
    holds its row, an INSERT only for a lock on the table."""
    latencies = sorted(seconds for each in kinds.values() for seconds in each)
    return {
        f"{label}: statements": len(latencies),
        f"{label}: longest (ms)": latencies[-1] * 1000,
        **{f"{label}:   longest {kind} (ms)": each[-1] * 1000 for kind, each in sorted(kinds.items())},
        f"{label}: p99 (ms)": latencies[int(len(latencies) * 0.99)] * 1000,
        f"{label}: median (ms)": latencies[len(latencies) // 2] * 1000,
    }


def _database(server: str, name: str) -> str:
    """A new database `name` as the Django app made it, at revision 0001, with ROWS narrations."""
    with psycopg.connect(_admin(server), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    with engine.connect() as connection:
        load_django_schema(connection)
        connection.commit()
        command.upgrade(alembic_config(connection), "0001")
    engine.dispose()
    stories = int(ROWS * 0.4)
    with psycopg.connect(_plain(url), autocommit=True) as connection:
        connection.execute(SEED.format(stories=stories, scenes=ROWS - stories).encode())
        connection.execute("VACUUM ANALYZE")
    return url


def _old_migrations(folder: Path) -> Path:
    """The migrations of commit BEFORE, as a script folder Alembic can run."""
    tree = folder / "old"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "archive", BEFORE, "db/migrations"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree / "db" / "migrations"


def _timed_upgrade(url: str, folder: Path, label: str, scripts: Path | None = None) -> dict[str, float]:
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    reset_engine()
    with Client(_plain(url), folder, label) as client:
        time.sleep(2.0)
        started = time.perf_counter()
        if scripts is None:
            upgrade()
        else:
            engine = create_engine(url)
            with engine.connect() as connection:
                config = alembic_config(connection)
                config.set_main_option("script_location", str(scripts))
                command.upgrade(config, "head")
                connection.commit()
            engine.dispose()
        duration = time.perf_counter() - started
        time.sleep(2.0)
    reset_engine()
    return {f"{label}: upgrade duration (s)": duration, **_figures(label, client.latencies())}


def run(connection: Redis) -> dict[str, float]:
    server = sqlalchemy_url(os.environ["DATABASE_URL"])
    saved = os.environ["DATABASE_URL"]
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="nd-live-upgrade-") as name:
        folder = Path(name)
        try:
            started = time.perf_counter()
            url = _database(server, DATABASE)
            results["seeding the Django database (s)"] = time.perf_counter() - started
            with Client(_plain(url), folder, "baseline") as client:
                time.sleep(BASELINE_SECONDS)
            results.update(_figures("no upgrade running (baseline)", client.latencies()))
            results.update(_timed_upgrade(url, folder, "db upgrade 0001 -> head"))
            if os.environ.get("LIVE_UPGRADE_OLD"):
                old = _database(server, f"{DATABASE}_old")
                results.update(_timed_upgrade(old, folder, f"old migrations ({BEFORE}), one transaction",
                                              _old_migrations(folder)))  # fmt: skip
        finally:
            os.environ["DATABASE_URL"] = saved
            get_settings.cache_clear()
            reset_engine()
            with psycopg.connect(_admin(server), autocommit=True) as admin:
                for database in (DATABASE, f"{DATABASE}_old"):
                    admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return results
