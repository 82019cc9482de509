"""IPA for lexicon entries, and the ElevenLabs pronunciation dictionaries made from them.

- `tts_lexicon_entry.ipa` (nullable): how to say the term in IPA. Where the model takes phoneme
  rules (ElevenLabs Flash v2), the term goes as written and a pronunciation dictionary says it;
  everywhere else the respelling is sent, as before.
- `tts_pronunciation_dictionary`: each set of phoneme rules already made into a dictionary in the
  ElevenLabs account (its id and version), by a hash of the rules, so one is made once and reused.

Our own tables only.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tts_lexicon_entry", sa.Column("ipa", sa.String(400)))
    op.create_table(
        "tts_pronunciation_dictionary",
        sa.Column("rules_key", sa.String(64), primary_key=True),
        sa.Column("dictionary_id", sa.String(100), nullable=False),
        sa.Column("version_id", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tts_pronunciation_dictionary")
    op.drop_column("tts_lexicon_entry", "ipa")
