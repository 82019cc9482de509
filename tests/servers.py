"""The real PostgreSQL and Redis the tests run against.

DATABASE_URL / REDIS_URL name servers to use (CI points them at this machine's). Without them the
tests start throwaway embedded servers of their own, the same ones `narration-desk run` uses.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from db.settings import sqlalchemy_url
from workers.operations.embedded import EmbeddedRedis, start_postgres, start_redis

REDIS_TEST_DBS = (9, 11, 12, 13, 14, 15)
"""Given a Redis server, tests use the first of these databases no other test run on this machine
holds, and refuse it if it holds keys (database 0 is the developer's, 10 the benchmarks')."""


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
        with _claimed_db(given) as db:
            yield make_url_db(given, db)
        return
    with tempfile.TemporaryDirectory(prefix="nd-test-redis-") as folder:
        server: EmbeddedRedis = start_redis(Path(folder))
        try:
            yield server.url
        finally:
            server.stop()


@contextmanager
def _claimed_db(url: str) -> Iterator[int]:
    """A database number held for this run by an exclusive file lock (released when the run ends,
    even if it is killed). Two runs on one machine (a developer's and CI's) would otherwise flush
    each other's queues and their workers would take each other's jobs."""
    server = hashlib.sha256(url.split("://", 1)[1].split("/", 1)[0].split("?")[0].encode()).hexdigest()[:12]
    for db in REDIS_TEST_DBS:
        lock = (Path(tempfile.gettempdir()) / f"narration-desk-tests-redis-{server}-{db}.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        try:
            yield db
        finally:
            lock.close()
        return
    raise RuntimeError(f"every test database {REDIS_TEST_DBS} of {url} is in use by another test run")


def make_url_db(url: str, db: int) -> str:
    """The same Redis server, database `db` (tests never touch a developer's database 0)."""
    if url.startswith("unix://"):
        return f"{url.split('?')[0]}?db={db}"
    scheme, rest = url.split("://", 1)
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/{db}"
