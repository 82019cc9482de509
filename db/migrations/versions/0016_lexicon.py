"""The pronunciation lexicon: entries per project or global, which entries each narration used,
and the completed narrations to narrate again after an entry changed. Our own tables only.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _fk(target: str, ondelete: str) -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete=ondelete, deferrable=True, initially="DEFERRED")


def _narration_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("narration_kind", sa.String(10), primary_key=True),
        sa.Column("narration_id", sa.BigInteger(), primary_key=True),
        sa.Column("entry_id", sa.BigInteger(), _fk("tts_lexicon_entry.id", "CASCADE"), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "tts_lexicon_entry",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("project_id", sa.BigInteger(), _fk("project_project.id", "CASCADE")),
        sa.Column("term", sa.String(200), nullable=False),
        sa.Column("term_key", sa.String(200), nullable=False),
        sa.Column("respelling", sa.String(400), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), _fk("auth_user.id", "SET NULL")),
        sa.UniqueConstraint(
            "project_id", "term_key", name="uq_tts_lexicon_entry_term", postgresql_nulls_not_distinct=True
        ),
    )
    op.create_table(
        "tts_narration_lexicon",
        *_narration_columns(),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "tts_lexicon_mark",
        *_narration_columns(),
        sa.Column("passages", ARRAY(sa.Integer()), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tts_lexicon_mark")
    op.drop_table("tts_narration_lexicon")
    op.drop_table("tts_lexicon_entry")
