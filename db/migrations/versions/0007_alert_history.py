"""Alert history: when each alert began, was last seen, and ended.

A webhook post is easily lost in a chat channel and the banner shows only what holds now, so the
minutely alert check also writes each alert's span here; the Operations page lists the spans in
its range ("the queue backed up from 02:10 to 02:55"). One open row per alert key at a time (a
partial unique index). A new table only: Django is untouched.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tts_alert",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
    )
    op.create_index(
        "ix_tts_alert_open", "tts_alert", ["key"], unique=True, postgresql_where=sa.text("ended_at IS NULL")
    )
    op.create_index("ix_tts_alert_started_at", "tts_alert", ["started_at"])


def downgrade() -> None:
    raise NotImplementedError("Expand-only schema.")
