"""Replacing a story's narration: the new one runs beside the old until it completes.

Django's one-to-one allows one `tts_storyaudio` row per story, so a replacement is written without
`story_id` and points at the row it replaces; on completion the two swap in one transaction and
the old row stays in the library as history. Nullable column only: Django's inserts are untouched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET CONSTRAINTS ALL IMMEDIATE")
    op.add_column(
        "tts_storyaudio",
        sa.Column(
            "replaces_id",
            sa.BigInteger(),
            sa.ForeignKey(
                "tts_storyaudio.id",
                name="tts_storyaudio_replaces_id_fkey",
                ondelete="SET NULL",
                deferrable=True,
                initially="DEFERRED",
            ),
        ),
    )
    op.create_index("ix_tts_storyaudio_replaces_id", "tts_storyaudio", ["replaces_id"])


def downgrade() -> None:
    op.drop_index("ix_tts_storyaudio_replaces_id", "tts_storyaudio")
    op.drop_column("tts_storyaudio", "replaces_id")
