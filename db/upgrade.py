"""`narration-desk db upgrade`: bring any supported database to the current schema, in place."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg.errors import LockNotAvailable
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from db.compat import DJANGO_COLUMNS, IncompatibleSchema, differences
from db.engine import get_engine
from db.settings import get_settings

log = logging.getLogger(__name__)

LOCK_RETRY_SECONDS = 600
"""How long `db upgrade` keeps trying a revision whose transaction timed out waiting for a lock
(db/online.py LOCK_TIMEOUT) before it gives up with the error: a reader that holds the table for
ten minutes is one to find and stop."""


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's config built in code, so the installed package needs no alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(files("db") / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@dataclass(frozen=True)
class UpgradeReport:
    """What an upgrade found and did; the CLI prints it."""

    before: str | None
    after: str
    rows_before: dict[str, int]
    rows_after: dict[str, int]

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _row_counts(connection: Connection) -> dict[str, int]:
    tables = connection.execute(
        text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename = ANY (:names) ORDER BY tablename"
        ),
        {"names": list(DJANGO_COLUMNS)},
    ).scalars()
    return {t: connection.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in list(tables)}


def current_revision(connection: Connection) -> str | None:
    """The revision stamped in the database, or None for an empty or Django-only one."""
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _ensure_group(connection: Connection, name: str) -> None:
    """The read-only viewers' group, so the Django admin can add people to it (a no-op when present)."""
    connection.execute(
        text("INSERT INTO auth_group (name) VALUES (:name) ON CONFLICT (name) DO NOTHING"), {"name": name}
    )


def _lock_timed_out(error: BaseException) -> bool:
    return isinstance(error, DBAPIError) and isinstance(error.orig, LockNotAvailable)


def _say_busy(state: RetryCallState) -> None:
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning("a table was busy beyond the lock timeout; the revision is tried again in %.1f s", wait)


def _upgrade_retrying(connection: Connection) -> None:
    """Run the pending revisions; one whose transaction timed out waiting for a lock was rolled
    back whole, and the upgrade goes on from it after a backoff (the revisions before it are in)."""
    retrying = Retrying(
        retry=retry_if_exception(_lock_timed_out),
        wait=wait_exponential_jitter(multiplier=0.5, max=15),
        stop=stop_after_delay(LOCK_RETRY_SECONDS),
        before_sleep=_say_busy,
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            command.upgrade(alembic_config(connection), "head")


def upgrade() -> UpgradeReport:
    """Check the database's shape, then run every pending revision, each in its own transaction,
    with the slow work outside it (db/online.py), so the Django app keeps writing meanwhile.

    Raises IncompatibleSchema, having changed nothing, when a known table has another shape.
    """
    with get_engine().connect() as connection:
        found = differences(connection)
        if found:
            raise IncompatibleSchema(found)
        before = current_revision(connection)
        rows_before = _row_counts(connection)
        connection.commit()
        _upgrade_retrying(connection)
        _ensure_group(connection, get_settings().viewer_group)
        connection.commit()
        return UpgradeReport(before, head_revision(), rows_before, _row_counts(connection))
