"""`narration-desk db upgrade`: bring any supported database to the current schema, in place."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from db.compat import DJANGO_COLUMNS, IncompatibleSchema, differences
from db.engine import get_engine
from db.settings import get_settings


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


def upgrade() -> UpgradeReport:
    """Check the database's shape, then run every pending migration in one transaction.

    Raises IncompatibleSchema, having changed nothing, when a known table has another shape.
    """
    with get_engine().connect() as connection:
        found = differences(connection)
        if found:
            raise IncompatibleSchema(found)
        before = current_revision(connection)
        rows_before = _row_counts(connection)
        connection.commit()
        command.upgrade(alembic_config(connection), "head")
        _ensure_group(connection, get_settings().viewer_group)
        connection.commit()
        return UpgradeReport(before, head_revision(), rows_before, _row_counts(connection))
