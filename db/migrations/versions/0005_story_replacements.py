"""Replacing a story's narration: the new one runs beside the old until it completes.

Django's one-to-one allows one `tts_storyaudio` row per story, so a replacement is written without
`story_id` and points at the row it replaces; on completion the two swap in one transaction and
the old row stays in the library as history. Nullable column only: Django's inserts are untouched.
Its foreign key is added NOT VALID and validated, and its index built concurrently, after the
revision's short transaction (db/online.py).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from db import online

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not online.has_column("tts_storyaudio", "replaces_id"):
        op.execute("SET CONSTRAINTS ALL IMMEDIATE")
        op.add_column("tts_storyaudio", sa.Column("replaces_id", sa.BigInteger()))
        online.add_foreign_key(
            "tts_storyaudio",
            "tts_storyaudio_replaces_id_fkey",
            "FOREIGN KEY (replaces_id) REFERENCES tts_storyaudio (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED",
        )
    with online.outside_transaction():
        online.create_index("ix_tts_storyaudio_replaces_id", "tts_storyaudio", ["replaces_id"])
        online.validate("tts_storyaudio", "tts_storyaudio_replaces_id_fkey")


def downgrade() -> None:
    op.drop_index("ix_tts_storyaudio_replaces_id", "tts_storyaudio")
    op.drop_column("tts_storyaudio", "replaces_id")
