"""The real PostgreSQL and Redis the tests run against.

DATABASE_URL / REDIS_URL name servers to use (CI points them at this machine's). Without them the
tests start throwaway embedded servers of their own, the same ones `narration-desk run` uses.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from db.settings import sqlalchemy_url
from workers.embedded import EmbeddedRedis, start_postgres, start_redis

REDIS_TEST_DB = 9
"""Given a Redis server, tests use this database number and refuse it if it holds keys."""


@contextmanager
def postgres_server() -> Iterator[str]:
    """A server URL (to its maintenance database) on which tests may create databases."""
    given = os.environ.get("DATABASE_URL")
    if given:
        yield sqlalchemy_url(given)
        return
    with tempfile.TemporaryDirectory(prefix="nd-test-pg-") as folder:
        server = start_postgres(Path(folder))
        try:
            yield str(make_url(server.url).set(database="postgres"))
        finally:
            server.stop()


@contextmanager
def redis_server() -> Iterator[str]:
    """A Redis URL whose database the tests may flush."""
    given = os.environ.get("REDIS_URL")
    if given:
        url = make_url_db(given, REDIS_TEST_DB)
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="nd-test-redis-") as folder:
        server: EmbeddedRedis = start_redis(Path(folder))
        try:
            yield server.url
        finally:
            server.stop()


def make_url_db(url: str, db: int) -> str:
    """The same Redis server, database `db` (tests never touch a developer's database 0)."""
    if url.startswith("unix://"):
        return f"{url.split('?')[0]}?db={db}"
    scheme, rest = url.split("://", 1)
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/{db}"
