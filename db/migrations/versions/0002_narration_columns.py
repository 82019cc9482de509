"""The schema review's improvements to both narration tables, as additive, Django-safe changes.

Every added column is nullable or has a server default, because Django's ORM inserts rows naming
only its own columns. Foreign keys get a deliberate ON DELETE (README, "Deletes"): the constraint
keeps its Django name and stays DEFERRABLE, only the delete rule changes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from db import online

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NARRATION_TABLES = ("tts_storyaudio", "tts_sceneaudio")

# (table, column, target, on delete)
DELETE_RULES = [
    ("tts_storyaudio", "user_id", "auth_user", "SET NULL"),
    ("tts_storyaudio", "project_id", "project_project", "SET NULL"),
    ("tts_storyaudio", "story_id", "story_story", "SET NULL"),
    ("tts_sceneaudio", "user_id", "auth_user", "SET NULL"),
    ("tts_sceneaudio", "image_id", "images_image", "CASCADE"),
]


def _common_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("duration_seconds", sa.Float()),
        sa.Column("error_message", sa.Text()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("max_attempts", sa.Integer(), nullable=False, server_default=sa.text("3")),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("priority", sa.SmallInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("scheduled_at", sa.DateTime(timezone=True)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("created_by_id", sa.Integer()),
        sa.Column("updated_by_id", sa.Integer()),
        sa.Column("processed_by", sa.String(200)),
        sa.Column("audio_metadata", JSONB()),
    ]


def _foreign_keys(table: str, column: str) -> list[str]:
    """The names of the foreign keys on `table.column`."""
    found = op.get_bind().execute(
        sa.text(
            """SELECT c.conname FROM pg_constraint c
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
               WHERE c.contype = 'f' AND c.conrelid = CAST(:table AS regclass) AND a.attname = :column"""
        ),
        {"table": table, "column": column},
    )
    return list(found.scalars())


def _replace_fk(table: str, column: str, target: str, on_delete: str) -> None:
    """Swap the FK on `table.column` for one with `on_delete`, keeping Django's constraint name;
    added NOT VALID, so the swap is a catalogue change (`upgrade` validates it afterwards)."""
    rows = _foreign_keys(table, column)
    name = rows[0] if rows else f"{table}_{column}_fkey"
    for old in rows:
        op.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{old}"')
    online.add_foreign_key(
        table,
        name,
        f"FOREIGN KEY ({column}) REFERENCES {target} (id) ON DELETE {on_delete} DEFERRABLE INITIALLY DEFERRED",
    )


def _check(table: str) -> str:
    return f"ck_{table}_ck_{table}_attempts"


def _added(table: str) -> list[str]:
    """The constraints this revision adds to `table` (NOT VALID until `upgrade` validates them)."""
    replaced = [name for t, column, _, _ in DELETE_RULES if t == table for name in _foreign_keys(table, column)]
    return [_check(table), f"{table}_created_by_id_fkey", f"{table}_updated_by_id_fkey", *replaced]


def _catalogue() -> None:
    """The revision's transaction: columns (nullable or a constant default: no rewrite), constraints
    NOT VALID; milliseconds under the tables' locks."""
    # Columns one table had and the other lacked, so both now share the review's BaseTTS.
    op.add_column("tts_storyaudio", sa.Column("task_id", sa.String(100)))
    op.add_column("tts_storyaudio", sa.Column("completed_at", sa.DateTime(timezone=True)))
    op.add_column(
        "tts_sceneaudio",
        sa.Column("model_backend", sa.String(50), nullable=False, server_default=sa.text("''")),
    )
    op.add_column("tts_sceneaudio", sa.Column("theme", sa.String(100)))
    op.add_column(
        "tts_sceneaudio",
        sa.Column("tags", sa.ARRAY(sa.String(50)), nullable=False, server_default=sa.text("'{}'")),
    )
    for table in NARRATION_TABLES:
        for added in _common_columns():
            op.add_column(table, added)
        # The name the metadata's naming convention gave `op.create_check_constraint` here before.
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {_check(table)} CHECK (attempts >= 0) NOT VALID")
        for audit in ("created_by_id", "updated_by_id"):
            online.add_foreign_key(
                table,
                f"{table}_{audit}_fkey",
                f"FOREIGN KEY ({audit}) REFERENCES auth_user (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED",
            )
    for table, column, target, on_delete in DELETE_RULES:
        _replace_fk(table, column, target, on_delete)


def upgrade() -> None:
    if not online.has_column("tts_sceneaudio", "audio_metadata"):  # the last column the transaction adds
        _catalogue()
    with online.outside_transaction():
        for table in NARRATION_TABLES:
            online.create_index(f"ix_{table}_status", table, ["status"])
            online.create_index(f"ix_{table}_provider", table, ["provider"])
            online.create_index(f"ix_{table}_task_id", table, ["task_id"])
            online.create_index(
                f"ix_{table}_queued",
                table,
                [sa.text("priority DESC"), "created_at"],
                postgresql_where=sa.text("status = 'queued'"),
            )
            for name in _added(table):
                online.validate(table, name)


def downgrade() -> None:
    raise NotImplementedError("Expand-only schema: columns the Django side may now rely on are kept.")
