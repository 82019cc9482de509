"""A throwaway database and Redis for a benchmark run, on the configured servers or embedded ones."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg
from redis import Redis
from sqlalchemy.engine import make_url

from db.engine import new_session, reset_engine
from db.seed import seed_demo
from db.settings import get_settings, sqlalchemy_url
from db.upgrade import upgrade
from workers.operations.embedded import start_postgres, start_redis
from workers.redis_connection import reset_redis

BENCH_DB = "narration_desk_bench"
REDIS_DB = 10


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def bench_environment(database: str = BENCH_DB) -> Iterator[Redis]:
    """Point settings at a fresh database `database` (migrated, demo data) and an empty Redis database."""
    saved = {name: os.environ.get(name) for name in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT")}
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="nd-bench-") as folder:
        stack.callback(_restore, saved)
        server = os.environ.get("DATABASE_URL")
        if server:
            server = sqlalchemy_url(server)
        else:
            postgres = start_postgres(Path(folder))
            stack.callback(postgres.stop)
            server = postgres.url
        with psycopg.connect(_plain(server), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{database}"')
        redis_url = os.environ.get("REDIS_URL")
        if redis_url and not redis_url.startswith("unix://"):
            redis_url = (
                redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}" if redis_url.count("/") > 2 else f"{redis_url}/{REDIS_DB}"
            )
        if not redis_url:
            embedded = start_redis(Path(folder))
            stack.callback(embedded.stop)
            redis_url = embedded.url
        os.environ.update(
            DATABASE_URL=str(make_url(server).set(database=database).render_as_string(hide_password=False)),
            REDIS_URL=redis_url,
            MEDIA_ROOT=str(Path(folder) / "media"),
        )
        get_settings.cache_clear()
        reset_engine()
        reset_redis()
        upgrade()
        with new_session() as session:
            seed_demo(session)
        connection = Redis.from_url(redis_url)
        if connection.dbsize():
            raise SystemExit(f"Refusing to benchmark on a Redis database that holds keys: {redis_url}")
        try:
            yield connection
        finally:
            connection.flushdb()
            reset_engine()
            with psycopg.connect(_plain(server), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _restore(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    get_settings.cache_clear()
    reset_engine()
    reset_redis()
