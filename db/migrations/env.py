"""Alembic environment: the URL comes from settings, the metadata from the models.

Each revision runs in a transaction of its own, with a short lock timeout, and its slow work
(concurrent index builds, batched backfills) after that transaction (db/online.py), so the Django
app keeps writing while a big database is upgraded. A session-level advisory lock, held for the
whole upgrade, keeps two `db upgrade`s started at once (a compose `migrate` service and a
developer) from interleaving: the second waits, then finds nothing left to do.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from db.engine import get_engine
from db.models import Base
from db.online import LOCK_TIMEOUT

MIGRATION_LOCK = 7_340_551_001
"""Arbitrary advisory-lock key, held by the upgrading session until it is done."""


def _run(connection: Connection) -> None:
    if connection.in_transaction():
        raise RuntimeError("Commit before upgrading: each revision commits on its own (db/online.py).")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
    connection.execute(text(f"SET lock_timeout = '{LOCK_TIMEOUT}'"))
    connection.commit()
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        connection.rollback()  # a revision that failed left its transaction for the caller's retry
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
        connection.execute(text("RESET lock_timeout"))
        connection.commit()


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
