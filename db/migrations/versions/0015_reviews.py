"""Review and approval: our own tables, and one view for the Django app to read.

- `tts_review`: every review of a completed narration (approved, or changes requested), who, when,
  and the audio file it heard (`audio_file` then; another one means the audio changed since).
- `tts_review_comment`: a review's comments, each on a moment of the audio and its passage.
- `tts_review_state`: the latest review of each narration.
- `tts_narration_review` (a view): one row per narration with its `review_state` (approved,
  changes_requested, changed_since_review, awaiting_approval, or NULL: nothing asked), `approved`
  (true only while the approved audio is the audio), `requires_approval` (its project's setting),
  and who reviewed it when. The Django app keeps its four statuses and, where a project requires
  approval, serves a completed narration once `approved` is true (README, "The shared schema").

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

VIEW = """
CREATE VIEW tts_narration_review AS
WITH narration AS (
    SELECT 'story'::varchar(10) AS narration_kind, a.id AS narration_id, a.status, a.audio_file, s.project_id
    FROM tts_storyaudio a LEFT JOIN story_story s ON s.id = a.narrated_story_id
    UNION ALL
    SELECT 'scene'::varchar(10), a.id, a.status, a.audio_file, s.project_id
    FROM tts_sceneaudio a
    LEFT JOIN images_image i ON i.id = a.image_id
    LEFT JOIN story_story s ON s.id = i.story_id
)
SELECT
    n.narration_kind,
    n.narration_id,
    COALESCE(p.require_approval, false) AS requires_approval,
    CASE
        WHEN r.verdict IS NULL THEN
            CASE WHEN p.require_approval AND n.status = 'completed' THEN 'awaiting_approval' END
        WHEN r.audio_file IS DISTINCT FROM n.audio_file THEN 'changed_since_review'
        ELSE r.verdict
    END AS review_state,
    (r.verdict = 'approved' AND r.audio_file IS NOT DISTINCT FROM n.audio_file) IS TRUE AS approved,
    u.username AS reviewed_by,
    r.at AS reviewed_at
FROM narration n
LEFT JOIN tts_review_state r ON r.narration_kind = n.narration_kind AND r.narration_id = n.narration_id
LEFT JOIN tts_project_setting p ON p.project_id = n.project_id
LEFT JOIN auth_user u ON u.id = r.user_id
"""


def _user_fk() -> sa.ForeignKey:
    return sa.ForeignKey("auth_user.id", ondelete="SET NULL", deferrable=True, initially="DEFERRED")


def _review_fk() -> sa.ForeignKey:
    return sa.ForeignKey("tts_review.id", ondelete="CASCADE", deferrable=True, initially="DEFERRED")


def upgrade() -> None:
    op.create_table(
        "tts_review",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("narration_kind", sa.String(10), nullable=False),
        sa.Column("narration_id", sa.BigInteger(), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("user_id", sa.Integer(), _user_fk()),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("audio_file", sa.String(100)),
    )
    op.create_index("ix_tts_review_narration", "tts_review", ["narration_kind", "narration_id", "at"])
    op.create_table(
        "tts_review_comment",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("review_id", sa.BigInteger(), _review_fk(), nullable=False),
        sa.Column("at_seconds", sa.Float(), nullable=False),
        sa.Column("passage", sa.Integer()),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_tts_review_comment_review_id", "tts_review_comment", ["review_id"])
    op.create_table(
        "tts_review_state",
        sa.Column("narration_kind", sa.String(10), primary_key=True),
        sa.Column("narration_id", sa.BigInteger(), primary_key=True),
        sa.Column("review_id", sa.BigInteger(), _review_fk(), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("user_id", sa.Integer(), _user_fk()),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audio_file", sa.String(100)),
    )
    op.execute(VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW tts_narration_review")
    op.drop_table("tts_review_state")
    op.drop_table("tts_review_comment")
    op.drop_table("tts_review")
