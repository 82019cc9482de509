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


def _replace_fk(table: str, column: str, target: str, on_delete: str) -> None:
    """Swap the FK on `table.column` for one with `on_delete`, keeping Django's constraint name."""
    rows = (
        op.get_bind()
        .execute(
            sa.text(
                """SELECT c.conname FROM pg_constraint c
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
               WHERE c.contype = 'f' AND c.conrelid = CAST(:table AS regclass) AND a.attname = :column"""
            ),
            {"table": table, "column": column},
        )
        .scalars()
        .all()
    )
    name = rows[0] if rows else f"{table}_{column}_fkey"
    for old in rows:
        op.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{old}"')
    op.execute(
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" FOREIGN KEY ({column}) REFERENCES {target} (id) '
        f"ON DELETE {on_delete} DEFERRABLE INITIALLY DEFERRED"
    )


def upgrade() -> None:
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
        op.create_check_constraint(f"ck_{table}_attempts", table, "attempts >= 0")
        for audit in ("created_by_id", "updated_by_id"):
            op.create_foreign_key(
                f"{table}_{audit}_fkey",
                table,
                "auth_user",
                [audit],
                ["id"],
                ondelete="SET NULL",
                deferrable=True,
                initially="DEFERRED",
            )
        op.create_index(f"ix_{table}_status", table, ["status"])
        op.create_index(f"ix_{table}_provider", table, ["provider"])
        op.create_index(f"ix_{table}_task_id", table, ["task_id"])
        op.create_index(
            f"ix_{table}_queued",
            table,
            [sa.text("priority DESC"), "created_at"],
            postgresql_where=sa.text("status = 'queued'"),
        )
    for table, column, target, on_delete in DELETE_RULES:
        _replace_fk(table, column, target, on_delete)


def downgrade() -> None:
    raise NotImplementedError("Expand-only schema: columns the Django side may now rely on are kept.")
