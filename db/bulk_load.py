"""Loading many rows by COPY into tables a live app also writes, with the triggers' work done by the loader.

At a million rows the per-row work around COPY costs more than the rows: each row's triggers,
each row's deferred foreign-key check at commit (one SELECT per row and key), and each row's
insertion into every index. The loader computes what the triggers would write into the rows
itself, so here the triggers are skipped, the referenced rows are locked once, and a table that
was small is indexed once after the load instead of row by row.

Locks (what other sessions see while a load runs; all released at commit):
- triggers skipped with `session_replication_role = replica` (superuser, or a role granted SET on
  that parameter): set for this transaction only, so no table lock; other writers run their
  triggers and foreign-key checks as always.
- otherwise `ALTER TABLE ... DISABLE TRIGGER USER` (the table's owner): SHARE ROW EXCLUSIVE on each
  table with user triggers, so other writers wait for the commit instead of writing rows whose
  triggers would not fire; readers are not blocked. Foreign keys are then checked per row at commit.
- referenced rows (projects, images, themes, tags): FOR KEY SHARE, as the skipped foreign-key
  checks would have taken: they cannot be deleted before the load commits.
- indexes rebuilt (only when the table held fewer rows than the load adds, only by its owner, and
  only when no other session holds a lock on it for LOCK_WAIT): DROP INDEX takes ACCESS EXCLUSIVE
  on the table, so its readers and writers wait for the commit. Otherwise COPY takes ROW EXCLUSIVE
  only and nobody waits.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import Cursor, errors
from psycopg.copy import QueuedLibpqWriter

BATCH = 100_000
INDEX_MEMORY = "256MB"
"""maintenance_work_mem for the rebuilt indexes: a million rows of the widest one sort in memory."""
LOCK_WAIT = "2s"
"""How long to wait for a table others are using before keeping its indexes instead of rebuilding them."""


class LoadRefused(RuntimeError):
    """The connected role may neither skip the tables' triggers nor switch them off."""


def _allowed(cursor: Cursor[Any], sql: str) -> bool:
    """Run `sql` in a savepoint; False if the role lacks the privilege (the transaction carries on)."""
    try:
        with cursor.connection.transaction():
            cursor.execute(sql.encode())
    except errors.InsufficientPrivilege:
        return False
    return True


def may_skip_triggers(cursor: Cursor[Any]) -> bool:
    """Whether this role may skip triggers for a transaction: a superuser, or granted SET on session_replication_role.

    Without it, each row's foreign-key checks run at commit and lock every table the row points
    at, even through a NULL key, so two loads that rebuild the indexes of tables the other points at
    would deadlock: run such loads one after the other."""
    try:
        with cursor.connection.transaction(force_rollback=True):
            cursor.execute(b"SET LOCAL session_replication_role = replica")
    except errors.InsufficientPrivilege:
        return False
    return True


def user_triggers(cursor: Cursor[Any], tables: Iterable[str]) -> dict[str, str]:
    """Trigger name -> table, for the user (not foreign-key) triggers on these tables."""
    cursor.execute(
        "SELECT tgname, tgrelid::regclass::text FROM pg_trigger "
        "WHERE NOT tgisinternal AND tgrelid = ANY(%s::regclass[])",
        (list(tables),),
    )
    return {str(name): str(table) for name, table in cursor.fetchall()}


@contextmanager
def triggers_skipped(cursor: Cursor[Any], tables: Sequence[str], *, written_here: Collection[str]) -> Iterator[bool]:
    """This transaction's writes to `tables` skip their triggers; yields True when foreign keys are unchecked too.

    `written_here` names the triggers whose work the caller writes into the rows itself. Any other
    user trigger is refused, so a trigger added by a later migration fails the load loudly instead
    of leaving its column unfilled. When True is yielded the caller must lock the rows it points
    at (`lock_referenced`); when False, the foreign keys are checked per row before the triggers
    are switched on again.
    """
    found = user_triggers(cursor, tables)
    unknown = sorted(set(found) - set(written_here))
    if unknown:
        raise RuntimeError(f"The bulk load does not know what these triggers write: {', '.join(unknown)}.")
    if _allowed(cursor, "SET LOCAL session_replication_role = replica"):
        yield True
        return
    with_triggers = sorted(set(found.values()))
    for table in with_triggers:
        if not _allowed(cursor, f"ALTER TABLE {table} DISABLE TRIGGER USER"):
            raise LoadRefused(
                f"Loading rows in bulk into {table} needs its owner, a superuser, or a role granted SET ON "
                "PARAMETER session_replication_role: connect as the role that ran the migrations."
            )
    yield False
    cursor.execute(b"SET CONSTRAINTS ALL IMMEDIATE")  # the deferred per-row checks, before ALTER TABLE
    for table in with_triggers:
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER".encode())


def lock_referenced(cursor: Cursor[Any], table: str, ids: Iterable[int]) -> None:
    """FOR KEY SHARE on the rows the load points at, which is all a skipped foreign-key check does
    besides finding them: none can be deleted (or its key changed) until the load commits."""
    wanted = sorted(set(ids))
    cursor.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE id = ANY(%s) FOR KEY SHARE) locked".encode(), (wanted,)
    )
    row = cursor.fetchone()
    if row is None or row[0] != len(wanted):
        raise RuntimeError(f"Rows of {table} the load points at were deleted while it ran; run it again.")


def _rebuildable(cursor: Cursor[Any], table: str, adding: int) -> list[tuple[str, str]]:
    """(name, definition) of the indexes worth rebuilding: none unless the table holds fewer rows
    than `adding` and the role owns it and may create in its schema; never those behind a constraint
    (they check the rows), nor invalid ones, nor partial ones (a row outside the predicate costs them
    only its test)."""
    cursor.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT %s) present".encode(), (adding,))
    row = cursor.fetchone()
    if row is None or row[0] >= adding:
        return []
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class t ON t.oid = i.indrelid WHERE i.indrelid = %s::regclass AND i.indisvalid "
        "AND i.indpred IS NULL AND pg_has_role(t.relowner, 'USAGE') AND has_schema_privilege(t.relnamespace, 'CREATE') "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1",
        (table,),
    )
    return [(str(name), str(definition)) for name, definition in cursor.fetchall()]


def _locked_at_once(cursor: Cursor[Any], table: str) -> bool:
    """ACCESS EXCLUSIVE on the table if no other session holds a lock on it for LOCK_WAIT; False otherwise.

    Waiting longer would queue every reader and writer of the table behind this load's request."""
    try:
        with cursor.connection.transaction():
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'".encode())
            cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE".encode())
            cursor.execute(b"SET LOCAL lock_timeout = DEFAULT")
    except errors.LockNotAvailable:
        return False
    return True


@contextmanager
def indexes_built_after(cursor: Cursor[Any], table: str, adding: int) -> Iterator[None]:
    """Drop the table's secondary indexes for the load and build each once after it, when the
    table held fewer rows than the load adds: one sort per index instead of a million insertions.

    The same definitions (names included) come back before the transaction commits, so no
    session ever sees the table without them; DROP INDEX's ACCESS EXCLUSIVE lock makes the
    others wait instead (see the module docstring). A table already larger than the load keeps
    its indexes: rebuilding them would cost more than the insertions.
    """
    indexes = _rebuildable(cursor, table, adding)
    if indexes and not _locked_at_once(cursor, table):
        indexes = []  # in use: keep the indexes rather than make its readers wait
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}".encode())
    yield
    if indexes:
        # PostgreSQL refuses to index a table with pending trigger events: run the deferred foreign-key
        # checks of the rows just loaded now (when triggers were disabled rather than skipped).
        cursor.execute(b"SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"SET LOCAL maintenance_work_mem = '{INDEX_MEMORY}'".encode())
    for _, definition in indexes:
        cursor.execute(definition.encode())


def _csv(frame: pd.DataFrame) -> bytes:
    """The frame as COPY's CSV, written by Arrow (pandas' own writer took longer than the server's
    load): strings quoted, NULL an empty unquoted field, timestamps naive (the session is in UTC)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    out = io.BytesIO()
    pa_csv.write_csv(table, out, pa_csv.WriteOptions(include_header=False))
    return out.getvalue()


def copy_frame(cursor: Cursor[Any], table: str, frame: pd.DataFrame) -> None:
    """Stream the frame into the table with COPY, a batch at a time; a thread sends while the next batch is made.

    Timestamp columns must hold naive UTC times: Arrow writes them without a zone (writing one
    went through the time-zone database per value), and this transaction reads them in UTC.
    """
    cursor.execute(b"SET LOCAL TimeZone = 'UTC'")
    sql = f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN (FORMAT csv)"
    with cursor.copy(sql.encode(), writer=QueuedLibpqWriter(cursor)) as copy:
        for start in range(0, len(frame), BATCH):
            copy.write(_csv(frame.iloc[start : start + BATCH]))
