"""Alembic environment: the URL comes from settings, the metadata from the models.

All revisions run in one transaction under an advisory lock, so two `db upgrade`s started at once
(a compose `migrate` service and a developer) cannot interleave, and a failure changes nothing.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from db.engine import get_engine
from db.models import Base

MIGRATION_LOCK = 7_340_551_001
"""Arbitrary advisory-lock key, taken for the length of the upgrade transaction."""


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_server_default=True)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


def run_migrations_online() -> None:
    """Use the connection the caller handed over (tests, `db.upgrade`), else the settings' engine."""
    given: Connection | None = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    with get_engine().connect() as connection:
        _run(connection)


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run `narration-desk db upgrade`.")
run_migrations_online()
