"""A project's fallback voice, and which narrations it narrated.

- `tts_project_setting` (our own table, one row per project that has settings): the fallback
  provider, model and voice, and whether completed narrations need approval (issue 15's review).
- `fell_back_from` on both narration tables (nullable: the Django app's inserts never name it): the
  voice asked for, as "provider · model · voice", on a narration the fallback narrated after that
  voice failed for account reasons. Its `provider`, `model_backend` and `voice_style` name the
  fallback: what the audio is.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLES = ("tts_storyaudio", "tts_sceneaudio")


def upgrade() -> None:
    op.create_table(
        "tts_project_setting",
        sa.Column(
            "project_id",
            sa.BigInteger(),
            sa.ForeignKey("project_project.id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
            primary_key=True,
        ),
        sa.Column("fallback_provider", sa.String(20)),
        sa.Column("fallback_model", sa.String(100)),
        sa.Column("fallback_voice", sa.String(100)),
        sa.Column("require_approval", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column(
            "updated_by_id",
            sa.Integer(),
            sa.ForeignKey("auth_user.id", ondelete="SET NULL", deferrable=True, initially="DEFERRED"),
        ),
    )
    for table in TABLES:
        op.add_column(table, sa.Column("fell_back_from", sa.String(250)))


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "fell_back_from")
    op.drop_table("tts_project_setting")
