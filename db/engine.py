"""The one SQLAlchemy engine of a process, created on first use.

Created lazily so a process that forks (an RQ worker, a test runner) never shares a pool with its
parent. A connection that sat idle is checked before use (`_ping_when_idle`), so a worker or a
page carries on after PostgreSQL restarts under it.
"""

from __future__ import annotations

import time
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


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    """The process-wide engine."""
    engine = create_engine(database_url(), pool_size=5, max_overflow=5)
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
