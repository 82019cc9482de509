"""The full history: events of every kind, listed by kind and by time, and pruned by age.

`tts_event` now holds every attempt and action (submitted, claimed, completed, failed, deleted…).
The operations page lists the newest events of one kind (`ix_tts_event_what_at`) or of all
(`ix_tts_event_at`), and maintenance deletes those older than EVENT_RETENTION_DAYS by the same
index on `at`.

Narration Desk's own table: nothing of Django's changes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tts_event_what_at", "tts_event", ["what", "at"])
    op.create_index("ix_tts_event_at", "tts_event", ["at"])


def downgrade() -> None:
    op.drop_index("ix_tts_event_at", "tts_event")
    op.drop_index("ix_tts_event_what_at", "tts_event")
