"""Throwaway PostgreSQL databases for the tests, and one migrated database emptied between tests.

Cloning a database for every test (CREATE DATABASE ... TEMPLATE, then DROP) cost 0.1–0.3 s a test
on the shared 2-core machine, more than most tests take. So each test process keeps one database
at the current schema and, after every test, puts it back to how the migration left it: the tables
a test wrote to are emptied, the rows the migration wrote are copied back, every sequence is set
back. A test that changed the schema itself (a trigger, an owner, a grant, a column) leaves a
different catalogue fingerprint, and its database is dropped and cloned afresh instead.
"""

from __future__ import annotations

import os
import uuid

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

_USER_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"

FINGERPRINT = f"""
SELECT md5(coalesce(string_agg(line, E'\\n' ORDER BY line), '')) FROM (
  SELECT format('schema %s %s %s', n.nspname, n.nspowner::regrole, n.nspacl) AS line
    FROM pg_namespace n WHERE {_USER_SCHEMAS}
  UNION ALL
  SELECT format('relation %s %s %s %s %s %s', c.oid::regclass, c.relkind, c.relowner::regrole, c.relacl,
                c.reloptions, c.relrowsecurity)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_SCHEMAS}
  UNION ALL
  SELECT format('column %s %s %s %s %s %s', a.attrelid::regclass, a.attname, format_type(a.atttypid, a.atttypmod),
                a.attnotnull, a.attacl, pg_get_expr(d.adbin, d.adrelid))
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE {_USER_SCHEMAS} AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT format('constraint %s %s %s', x.conrelid::regclass, x.conname, pg_get_constraintdef(x.oid))
    FROM pg_constraint x JOIN pg_namespace n ON n.oid = x.connamespace WHERE {_USER_SCHEMAS}
  UNION ALL
  SELECT format('index %s', pg_get_indexdef(i.indexrelid))
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE {_USER_SCHEMAS}
  UNION ALL
  SELECT format('trigger %s %s %s', pg_get_triggerdef(t.oid), t.tgenabled, t.tgrelid::regclass)
    FROM pg_trigger t WHERE NOT t.tgisinternal
  UNION ALL
  SELECT format('function %s %s %s', p.oid::regprocedure, p.proowner::regrole, md5(p.prosrc))
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {_USER_SCHEMAS}
  UNION ALL
  SELECT format('view %s %s', c.oid::regclass, pg_get_viewdef(c.oid))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_SCHEMAS} AND c.relkind IN ('v', 'm')
  UNION ALL
  SELECT format('sequence %s %s %s %s %s %s', s.seqrelid::regclass, s.seqtypid, s.seqstart, s.seqincrement,
                s.seqmin, s.seqmax)
    FROM pg_sequence s
  UNION ALL
  SELECT format('type %s %s', t.oid::regtype, t.typtype) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE {_USER_SCHEMAS} AND t.typtype IN ('e', 'd', 'c', 'r') AND t.typrelid = 0
  UNION ALL
  SELECT format('enum %s %s %s', e.enumtypid::regtype, e.enumsortorder, e.enumlabel) FROM pg_enum e
  UNION ALL
  SELECT format('policy %s %s %s', p.polrelid::regclass, p.polname, pg_get_expr(p.polqual, p.polrelid))
    FROM pg_policy p
  UNION ALL
  SELECT format('rule %s', pg_get_ruledef(r.oid)) FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_SCHEMAS} AND r.rulename <> '_RETURN'
  UNION ALL
  SELECT format('extension %s %s', x.extname, x.extversion) FROM pg_extension x
  UNION ALL
  SELECT format('settings %s %s', s.setrole, s.setconfig) FROM pg_db_role_setting s
    WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
) catalogue
"""
"""What the schema is, as text hashed: everything a test could change with DDL, GRANT or
ALTER ... OWNER, and nothing that TRUNCATE changes (file numbers, row counts)."""

_TABLES = f"""
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE {_USER_SCHEMAS} AND c.relkind IN ('r', 'p') ORDER BY 1, 2
"""

_SEQUENCES = f"""
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE {_USER_SCHEMAS} AND c.relkind = 'S' ORDER BY 1, 2
"""


def psycopg_url(sqlalchemy_url: str) -> str:
    """The URL psycopg takes (no `+psycopg` driver name)."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


class Databases:
    """Creates and drops databases on the test server (each named for the test process, so
    xdist workers and other runs on the same server never meet)."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.prefix = f"nd_test_{os.getpid()}"

    def url(self, name: str) -> str:
        return make_url(self.server_url).set(database=name).render_as_string(hide_password=False)

    def execute(self, statement: str) -> None:
        with psycopg.connect(psycopg_url(self.server_url), autocommit=True) as connection:
            connection.execute(statement.encode())

    def create(self, *, template: str | None = None) -> str:
        name = f"{self.prefix}_{uuid.uuid4().hex[:8]}"
        self.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def drop(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Reusable:
    """One database cloned from the migrated template, handed to test after test and put back to
    the template's state in between (`reset`). Reads what the template holds once: its
    fingerprint, its rows (alembic_version, the viewer group) and its sequences."""

    def __init__(self, databases: Databases, template: str) -> None:
        self.databases = databases
        self.template = template
        with self._connect(template) as connection:
            self.fingerprint = self._fingerprint(connection)
            self.superuser = connection.execute("SELECT current_setting('is_superuser') = 'on'").fetchone() == (True,)
            self.tables = [sql.Identifier(str(schema), str(name)) for schema, name in connection.execute(_TABLES)]
            self.seeded = {index: self._rows(connection, self.tables[index]) for index in self._written(connection)}
            self.sequences = [
                self._setval(connection, sql.Identifier(str(schema), str(name)))
                for schema, name in connection.execute(_SEQUENCES).fetchall()
            ]
        self.name = databases.create(template=template)
        self._kept: psycopg.Connection[tuple[object, ...]] | None = None

    @property
    def url(self) -> str:
        return self.databases.url(self.name)

    def reset(self) -> None:
        """Back to the template's state: cheaply where only rows changed, by a new clone where the
        schema did. Connections a test left open (its threads', a pool it made) are ended first,
        as DROP DATABASE ... WITH (FORCE) would, so none holds a lock or writes afterwards."""
        try:
            try:
                same_schema = self._put_back(self._connection())
            except psycopg.OperationalError:  # a test ended our connection too: once more on a new one
                self._forget_connection()
                same_schema = self._put_back(self._connection())
        except psycopg.Error:  # something a test left kept reconnecting and holding a lock
            same_schema = False
        if not same_schema:
            self._forget_connection()
            self.databases.drop(self.name)
            self.name = self.databases.create(template=self.template)

    def drop(self) -> None:
        self._forget_connection()
        self.databases.drop(self.name)

    def _put_back(self, connection: psycopg.Connection[tuple[object, ...]]) -> bool:
        """Empty the database if its schema is the template's; False (nothing done) if not."""
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        if self._fingerprint(connection) != self.fingerprint:
            return False
        self._empty(connection)
        return True

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        """One connection kept from reset to reset: a new one cost ~10 ms to open and ~15 ms more in
        the fingerprint, its catalogue caches cold (measured on the 2-core machine under load)."""
        if self._kept is None or self._kept.closed:
            self._kept = self._connect(self.name)
            self._kept.execute("SET application_name = 'nd_test_reset'")
            self._kept.execute("SET lock_timeout = '10s'")
        return self._kept

    def _forget_connection(self) -> None:
        if self._kept is not None:
            self._kept.close()
            self._kept = None

    def _empty(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        touched = [self.tables[index] for index in sorted(self._written(connection) | set(self.seeded))]
        with connection.transaction():
            if self.superuser:
                # DELETE takes ~3 ms where TRUNCATE takes 80-200 ms (new files for every table and
                # index); the replica role skips foreign-key checks and ordinary triggers, so the
                # order does not matter and no trigger writes a row while the rows go.
                connection.execute("SET LOCAL session_replication_role = replica")
                for table in touched:
                    connection.execute(sql.SQL("DELETE FROM {}").format(table))
            elif touched:
                connection.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.SQL(", ").join(touched)))
            for index, data in self.seeded.items():
                copying = sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(self.tables[index])
                with connection.cursor().copy(copying) as copy:
                    copy.write(data)
            if self.sequences:
                connection.execute(sql.SQL("SELECT {}").format(sql.SQL(", ").join(self.sequences)))

    def _written(self, connection: psycopg.Connection[tuple[object, ...]]) -> set[int]:
        """The tables that hold a row, as indexes into `tables` (one query, whatever their number)."""
        if not self.tables:
            return set()
        holding = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {} WHERE EXISTS (SELECT FROM {})").format(sql.Literal(index), table)
            for index, table in enumerate(self.tables)
        )
        return {int(str(index)) for (index,) in connection.execute(holding)}

    @staticmethod
    def _rows(connection: psycopg.Connection[tuple[object, ...]], table: sql.Identifier) -> bytes:
        with connection.cursor().copy(sql.SQL("COPY {} TO STDOUT (FORMAT binary)").format(table)) as copy:
            return b"".join(bytes(block) for block in copy)

    def _connect(self, name: str) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(psycopg_url(self.databases.url(name)), autocommit=True)

    @staticmethod
    def _fingerprint(connection: psycopg.Connection[tuple[object, ...]]) -> str:
        row = connection.execute(FINGERPRINT).fetchone()
        assert row is not None
        return str(row[0])

    @staticmethod
    def _setval(connection: psycopg.Connection[tuple[object, ...]], seq: sql.Identifier) -> sql.Composable:
        """The call that puts sequence `seq` back where it is now."""
        row = connection.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(seq)).fetchone()
        assert row is not None
        return sql.SQL("setval({}, {}, {})").format(sql.Literal(seq.as_string(connection)), *map(sql.Literal, row))
