"""The one SQLAlchemy engine of a process, created on first use.

Created lazily so a process that forks (an RQ worker, a test runner) never shares a pool with its
parent. A connection that sat idle is checked before use (`_ping_when_idle`), so a worker or a
page carries on after PostgreSQL restarts under it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import Session, sessionmaker

from db.settings import get_settings


class DatabaseNotConfigured(RuntimeError):
    """Raised when a command needs PostgreSQL but no DATABASE_URL is known."""


def database_url() -> str:
    """The URL in force, or a sentence saying how to get one."""
    url = get_settings().database_url
    if not url:
        raise DatabaseNotConfigured(
            "DATABASE_URL is not set. Set it to your PostgreSQL server, or use `narration-desk run`, "
            "which starts an embedded PostgreSQL and passes its URL on."
        )
    return url


PING_AFTER_IDLE_SECONDS = 1.0
"""A connection taken from the pool is checked with a round trip only when it sat idle longer than
this. SQLAlchemy's `pool_pre_ping` checks every checkout, which was one round trip (and one commit)
in two of a short job's (bench/worker_overhead.py); a connection in use a moment ago almost surely
still works. One that a restart broke within that second fails its statement, which every caller
survives (a job hands its row back, a claim is tried again, a page shows the error once), and the
failure makes SQLAlchemy drop every connection of the pool that is older."""


def _stamp_idle(dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_when_idle(engine: Engine) -> Any:
    def check(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:  # the pool renews every older connection and tries again
            raise InvalidatePoolError(str(error)) from error

    return check


@dataclass(frozen=True)
class Pool:
    """How many connections a process keeps (`size`) and may open beyond them at a busy moment
    (`overflow`, closed when returned); DATABASE_POOL_SIZE and DATABASE_MAX_OVERFLOW override them.
    Its connections carry `application_name`, so `pg_stat_activity` tells whose they are."""

    size: int
    overflow: int
    application_name: str


SERVING = Pool(size=5, overflow=5, application_name="narration-desk")
"""The dashboard and the commands: many sessions' page runs may query at the same moment."""
WORKER = Pool(size=1, overflow=1, application_name="narration-desk-worker")
"""A worker's job threads hold a session only for a statement or two between provider requests, so
one kept connection serves them most of the time and one more covers the moments two overlap (the
others wait a few milliseconds). With its lease connection (workers/engine/lease.py) a worker holds
2 at rest and never more than 3, so 32 workers cannot pass 96 of PostgreSQL's default
max_connections of 100 (`make bench BENCH=connections` measures the peak)."""


_pool_defaults = SERVING


def use_pool_defaults(pool: Pool) -> None:
    """The pool this process's engine takes where the settings leave it unset (the worker command
    calls it with WORKER); an engine already made is dropped so the next query uses it."""
    global _pool_defaults
    _pool_defaults = pool
    reset_engine()


def pool_in_force() -> Pool:
    """The settings' pool where set, this process's defaults elsewhere."""
    settings = get_settings()
    size = settings.database_pool_size
    overflow = settings.database_max_overflow
    return Pool(
        size=_pool_defaults.size if size is None else size,
        overflow=_pool_defaults.overflow if overflow is None else overflow,
        application_name=_pool_defaults.application_name,
    )


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    """The process-wide engine."""
    pool = pool_in_force()
    engine = create_engine(
        database_url(),
        pool_size=pool.size,
        max_overflow=pool.overflow,
        connect_args={"application_name": pool.application_name},
    )
    event.listen(engine, "checkin", _stamp_idle)
    event.listen(engine, "checkout", _ping_when_idle(engine))
    return engine


@lru_cache(maxsize=1)
def _session_factory() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False)


def new_session() -> Session:
    """A fresh session: one per job or page action, closed by the caller's `with`."""
    return _session_factory()()


def reset_engine() -> None:
    """Forget the engine (tests and `run` call it after pointing DATABASE_URL elsewhere)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    _session_factory.cache_clear()
