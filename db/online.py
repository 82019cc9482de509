"""Schema changes that let the Django app keep writing while `db upgrade` runs on a big database.

Any ALTER TABLE takes ACCESS EXCLUSIVE on the table, and PostgreSQL queues every later statement
on it behind that request, Django's INSERTs and UPDATEs included, until the transaction that holds
it ends. So each revision (db/migrations/versions) is split in two:

- its own transaction holds only catalogue changes that take milliseconds (nullable columns,
  constraints `NOT VALID`, triggers, new tables), waiting at most LOCK_TIMEOUT for its locks; on a
  timeout it is rolled back, releasing everything, and `db upgrade` tries it again after a backoff
  (db/upgrade.py), so a long reader delays the upgrade instead of Django's writes;
- what takes time runs afterwards outside any transaction (`outside_transaction`), under locks that
  let writes through: `CREATE INDEX CONCURRENTLY` (`create_index`), `VALIDATE CONSTRAINT`
  (`validate`) and backfills in batches of BATCH rows, each batch its own short transaction
  (`backfill`). Triggers that keep a derived column right exist before its backfill starts, so
  rows Django writes meanwhile are right either way.

A run stopped in the second part (a crash, a Ctrl-C) leaves the revision unstamped; the next run
skips the transaction part when a column it adds is there (it was all or nothing: `has_column`), drops an index a failed
concurrent build left INVALID and builds it again, and the backfills only fill what is still empty.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import DBAPIError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

LOCK_TIMEOUT = "300ms"
"""Longest a revision's transaction waits for any one lock. Django's statements that arrive meanwhile
queue behind it, and while it waits for a later lock (the second narration table, a table a foreign
key points at) it holds the earlier ones: a statement can wait this once per lock still to come,
plus the milliseconds the catalogue change takes. Only when every table is busy at once does that
approach 1 s; `BENCH=live-upgrade` measures the longest wait under a steady writer."""
BATCH = 5_000
"""Rows one backfill transaction updates; a Django UPDATE of one of them waits for that transaction
(tens of milliseconds on a quiet 2-core machine, a few hundred on a loaded one)."""


def has_column(table: str, column: str) -> bool:
    """Whether `table.column` exists: a revision's transaction part committed if a column it adds is there."""
    found = op.get_bind().execute(
        sa.text(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = :table AND column_name = :column"
        ),
        {"table": table, "column": column},
    )
    return found.first() is not None


@contextmanager
def outside_transaction() -> Iterator[None]:
    """Commit the revision's transaction so far, and run the block in autocommit without a lock
    timeout: what runs here takes only locks that writes pass (SHARE UPDATE EXCLUSIVE, row locks)."""
    with op.get_context().autocommit_block():
        op.execute("SET lock_timeout = 0")
        try:
            yield
        finally:
            op.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")


def _index_valid(name: str) -> bool | None:
    """True, False (a concurrent build that failed left it INVALID), or None when there is none."""
    valid: bool | None = op.get_bind().scalar(
        sa.text(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace"
        ),
        {"name": name},
    )
    return valid


def create_index(name: str, table: str, columns: Sequence[Any], **options: Any) -> None:
    """`op.create_index` built concurrently (call inside `outside_transaction`); kept if a valid one
    is there, dropped and built again if an earlier build left it INVALID. A build that fails (a
    deadlock with another session's DDL) is tried three times."""
    retrying = Retrying(
        retry=retry_if_exception_type(DBAPIError),
        stop=stop_after_attempt(3),
        wait=wait_exponential_jitter(multiplier=1, max=10),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            valid = _index_valid(name)
            if valid:
                return
            if valid is False:
                op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
            op.create_index(name, table, list(columns), postgresql_concurrently=True, **options)


def add_foreign_key(table: str, name: str, definition: str) -> None:
    """The constraint added `NOT VALID` (no scan under the revision's lock); `validate` checks the rows later."""
    op.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition} NOT VALID')


def validate(table: str, name: str) -> None:
    """Check the existing rows against a constraint added `NOT VALID` (call inside
    `outside_transaction`): a scan under SHARE UPDATE EXCLUSIVE, which Django's writes pass."""
    op.execute(f'ALTER TABLE {table} VALIDATE CONSTRAINT "{name}"')


def backfill(table: str, update: str) -> None:
    """Run `update` over `table`'s ids in ranges of BATCH (call inside `outside_transaction`);
    `update` filters on `id >= :lower AND id < :upper` and on what is still to fill, so a range that
    a rerun visits again changes nothing."""
    bind = op.get_bind()
    low, high = bind.execute(sa.text(f"SELECT min(id), max(id) FROM {table}")).one()
    if low is None:
        return
    for lower in range(low, high + 1, BATCH):
        bind.execute(sa.text(update), {"lower": lower, "upper": lower + BATCH})
