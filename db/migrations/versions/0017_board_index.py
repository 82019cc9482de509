"""The story board's index: each scene image's narrations by age, so a board finds each image's
newest narration with one index step however many narrations the image has (`db/board.py`).
An index only, built concurrently on a live database (db/online.py): Django is untouched.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from alembic import op

from db import online

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with online.outside_transaction():
        online.create_index("ix_tts_sceneaudio_image_newest", "tts_sceneaudio", ["image_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_tts_sceneaudio_image_newest", "tts_sceneaudio")
