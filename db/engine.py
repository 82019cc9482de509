"""The one SQLAlchemy engine of a process, created on first use.

Created lazily so a process that forks (an RQ worker, a test runner) never shares a pool with its
parent; `pool_pre_ping` lets a worker carry on after PostgreSQL restarts under it.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine, create_engine
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


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    """The process-wide engine."""
    return create_engine(database_url(), pool_pre_ping=True, pool_size=5, max_overflow=5)


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
