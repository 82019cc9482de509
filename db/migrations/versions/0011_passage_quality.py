"""Each passage's quality figures on its own row.

`tts_chunk.qc`: the passage's measurements and flags as the quality checks wrote them into the
narration's `audio_metadata["qc"]["passages"]`, kept on the passage too, so "which passages
anywhere are flagged" is one query over passages, and a passage's figures travel with it.

Narration Desk's own table: nothing of Django's changes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tts_chunk", sa.Column("qc", JSONB()))


def downgrade() -> None:
    op.drop_column("tts_chunk", "qc")
