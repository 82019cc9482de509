"""Per-narration mastering profile and listen-back choice.

- `mastering`: the profile the narration is mastered with (`standard`, `acx`, `podcast`, `raw`;
  workers/engine/mastering.py). NULL (every row the Django app inserts) means the desk's default,
  `MASTERING_PROFILE`, at the time the worker runs it; the profile used is recorded in the
  row's `audio_metadata["mastering"]`.
- `listen_back`: whether each passage is transcribed and compared with its text after synthesis.
  NULL means no.

Nullable columns: Django's columns and rows are untouched.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("tts_storyaudio", "tts_sceneaudio")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("mastering", sa.String(16)))
        op.add_column(table, sa.Column("listen_back", sa.Boolean()))


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "listen_back")
        op.drop_column(table, "mastering")
