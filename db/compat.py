"""Checks that a database is one `db upgrade` may touch: empty, the Django app's, or ours.

Run before any migration, so a database of some other shape is refused with the table and column
that differ, and nothing is changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from db.models import Base

DJANGO_COLUMNS: dict[str, tuple[str, ...]] = {
    "auth_user": (
        "id",
        "password",
        "last_login",
        "is_superuser",
        "username",
        "first_name",
        "last_name",
        "email",
        "is_staff",
        "is_active",
        "date_joined",
    ),
    "auth_group": ("id", "name"),
    "auth_user_groups": ("id", "user_id", "group_id"),
    "project_project": ("id", "name"),
    "story_story": ("id", "title", "content", "project_id"),
    "images_image": ("id", "image", "caption", "story_id"),
    "tts_storyaudio": (
        "id",
        "prompt",
        "base64_audio",
        "audio_file",
        "voice_style",
        "provider",
        "status",
        "model_backend",
        "theme",
        "tags",
        "created_at",
        "updated_at",
        "project_id",
        "story_id",
        "user_id",
    ),
    "tts_sceneaudio": (
        "id",
        "prompt",
        "base64_audio",
        "audio_file",
        "voice_style",
        "provider",
        "status",
        "task_id",
        "created_at",
        "updated_at",
        "completed_at",
        "image_id",
        "user_id",
    ),
}
"""The Django app's columns: the contract. These must exist wherever their table exists."""

# SQLAlchemy's spelling of a PostgreSQL type → `format_type()`'s spelling.
_PG_SPELLING = {
    "VARCHAR": "character varying",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
    "FLOAT": "double precision",
}


@dataclass(frozen=True)
class Difference:
    """One way the database differs from what Narration Desk expects."""

    table: str
    column: str
    found: str
    expected: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}: found {self.found}, expected {self.expected}"


class IncompatibleSchema(RuntimeError):
    """The database holds tables of the same names but another shape; nothing was changed."""

    def __init__(self, differences: list[Difference]) -> None:
        self.differences = differences
        lines = "\n".join(f"  - {d}" for d in differences)
        super().__init__(
            "This database is neither empty, the Django app's, nor Narration Desk's, so `db upgrade` "
            f"stopped before changing anything. Differences:\n{lines}\n"
            "Point DATABASE_URL at the right database, or fix these columns first."
        )


def expected_type(column_type: TypeEngine[Any]) -> str:
    """The `format_type()` text PostgreSQL reports for a model column's type."""
    compiled = str(column_type.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
    for theirs, ours in _PG_SPELLING.items():
        if compiled.startswith(theirs):
            compiled = ours + compiled[len(theirs) :]
    return compiled.lower()


def differences(connection: Connection) -> list[Difference]:
    """Every column, of the tables we know, whose type or nullability is not what we expect."""
    rows = connection.execute(
        text(
            """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = current_schema() AND c.relkind = 'r' AND a.attnum > 0
                 AND NOT a.attisdropped AND c.relname = ANY (:tables)"""
        ),
        {"tables": list(Base.metadata.tables)},
    ).all()
    found: dict[str, dict[str, tuple[str, bool]]] = {}
    for table, column, type_name, not_null in rows:
        found.setdefault(table, {})[column] = (type_name, not_null)

    result: list[Difference] = []
    for table, columns in found.items():
        model = Base.metadata.tables[table]
        for name in DJANGO_COLUMNS.get(table, ()):
            if name not in columns:
                result.append(Difference(table, name, "no such column", expected_type(model.c[name].type)))
        for name, (type_name, not_null) in columns.items():
            if name not in model.c:
                continue  # a column someone else added is theirs to keep
            want_type = expected_type(model.c[name].type)
            want_null = "NOT NULL" if not model.c[name].nullable else "NULL"
            got_null = "NOT NULL" if not_null else "NULL"
            if type_name != want_type or got_null != want_null:
                result.append(Difference(table, name, f"{type_name} {got_null}", f"{want_type} {want_null}"))
    return result
