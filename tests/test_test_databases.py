"""The database the tests share within a process is handed to each test as the migration left it:
rows, sequences and the migration's own rows put back, and a changed schema replaced by a clone."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.databases import Databases, Reusable, psycopg_url


@pytest.fixture
def reusable(databases: Databases, template_db: str) -> Iterator[Reusable]:
    made = Reusable(databases, template_db)
    yield made
    made.drop()


def _state(url: str) -> tuple[object, ...]:
    with psycopg.connect(psycopg_url(url)) as connection:
        return (
            connection.execute("SELECT id, name FROM auth_group ORDER BY id").fetchall(),
            connection.execute("SELECT version_num FROM alembic_version").fetchall(),
            connection.execute("SELECT count(*) FROM auth_user").fetchall(),
            connection.execute("SELECT nextval('auth_user_id_seq')").fetchall(),
        )


def test_rows_sequences_and_the_migrations_rows_are_put_back(reusable: Reusable) -> None:
    before = _state(reusable.url)
    with psycopg.connect(psycopg_url(reusable.url)) as connection:
        connection.execute("SELECT setval('auth_user_id_seq', 1, false)")  # _state took one; as new again
        connection.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, "
            "is_active, date_joined) VALUES ('x', false, 'left-behind', '', '', '', false, true, now())"
        )
        connection.execute("DELETE FROM auth_group")  # the migration's viewer group
        connection.execute("UPDATE alembic_version SET version_num = 'elsewhere'")
    name = reusable.name
    reusable.reset()
    assert reusable.name == name  # emptied, not cloned
    with psycopg.connect(psycopg_url(reusable.url)) as connection:
        connection.execute("SELECT setval('auth_user_id_seq', 1, false)")
    assert _state(reusable.url) == before


def test_a_changed_schema_is_replaced_by_a_fresh_clone(reusable: Reusable) -> None:
    with psycopg.connect(psycopg_url(reusable.url)) as connection:
        connection.execute("CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$")
        connection.execute("CREATE TRIGGER stamp BEFORE INSERT ON auth_user FOR EACH ROW EXECUTE FUNCTION stamp()")
    name = reusable.name
    reusable.reset()
    assert reusable.name != name
    with psycopg.connect(psycopg_url(reusable.url)) as connection:
        assert connection.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'stamp'").fetchone() == (0,)


def test_a_connection_left_open_in_a_transaction_does_not_hold_the_reset(reusable: Reusable) -> None:
    left = psycopg.connect(psycopg_url(reusable.url))
    left.execute("LOCK TABLE auth_user IN ACCESS EXCLUSIVE MODE")  # and never commits
    reusable.reset()  # ends it, as DROP DATABASE ... WITH (FORCE) did, instead of waiting on its lock
    with pytest.raises(psycopg.OperationalError):
        left.execute("SELECT 1")
    left.close()
