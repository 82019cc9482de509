"""Long-text chunks, worker heartbeats, cancellation, output options and maintenance reports.

All new tables are Narration Desk's own; the narration tables only gain nullable columns.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    # Earlier revisions' backfills leave deferred FK checks pending in this one transaction, and
    # PostgreSQL refuses ALTER TABLE on a table with pending trigger events: run them now.
    op.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table in ("tts_storyaudio", "tts_sceneaudio"):
        op.add_column(table, sa.Column("cancelled_at", sa.DateTime(timezone=True)))
        op.add_column(table, sa.Column("output_format", sa.String(10)))
        op.add_column(table, sa.Column("instructions", sa.Text()))
        op.add_column(table, sa.Column("speed", sa.Float()))

    op.create_table(
        "tts_chunk",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("story_audio_id", sa.BigInteger()),
        sa.Column("scene_audio_id", sa.BigInteger()),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default=sa.text("'pending'")),
        sa.Column("provider_calls", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("request_id", sa.String(200)),
        sa.Column("characters_billed", sa.Integer()),
        sa.Column("sample_rate", sa.Integer()),
        sa.Column("seconds", sa.Float()),
        sa.Column("audio_path", sa.String(200)),
        sa.Column("error_message", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.ForeignKeyConstraint(
            ["story_audio_id"], ["tts_storyaudio.id"], ondelete="CASCADE", deferrable=True, initially="DEFERRED",
            name="tts_chunk_story_audio_id_fkey",
        ),
        sa.ForeignKeyConstraint(
            ["scene_audio_id"], ["tts_sceneaudio.id"], ondelete="CASCADE", deferrable=True, initially="DEFERRED",
            name="tts_chunk_scene_audio_id_fkey",
        ),
        sa.CheckConstraint("(story_audio_id IS NULL) <> (scene_audio_id IS NULL)", name="ck_tts_chunk_one_owner"),
        sa.UniqueConstraint("story_audio_id", "idx", name="tts_chunk_story_audio_id_key"),
        sa.UniqueConstraint("scene_audio_id", "idx", name="tts_chunk_scene_audio_id_key"),
    )  # fmt: skip

    op.create_table(
        "tts_worker",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
        sa.Column("current_job", sa.String(100)),
    )
    op.create_index("ix_tts_worker_last_seen_at", "tts_worker", ["last_seen_at"])

    op.create_table(
        "tts_maintenance_run",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("report", JSONB(), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("Expand-only schema.")
