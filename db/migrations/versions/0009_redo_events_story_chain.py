"""Redo without touching a finished narration, an event log, and the story through a replacement chain.

- `redo_state` on both narration tables and `redo_*` on `tts_chunk`: a redo of a completed
  narration keeps the row `completed` with its audio until the new audio is ready (db/redo.py).
- `tts_event`: what happened to a narration after its first start (redo, retry, cancel, requeue),
  so `started_at` can stay the first start.
- `tts_storyaudio.narrated_story_id`: the story a narration is of, never cleared by a takeover.
  Backfilled by walking `replaces_id` in both directions (a replaced row learns its story from the
  replacement that took it; a pending replacement from the row it replaces), and filled by a
  trigger from `story_id` for rows the Django app inserts.

Nullable columns, a new table and a trigger: Django's columns are untouched. On a live database
the trigger comes first, then the indexes built concurrently and the backfill in batches, outside
the revision's transaction (db/online.py).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from db import online

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("tts_storyaudio", "tts_sceneaudio")
_DEFERRED = {"deferrable": True, "initially": "DEFERRED"}


HOP = """
UPDATE tts_storyaudio AS a SET narrated_story_id = coalesce(
    (SELECT n.narrated_story_id FROM tts_storyaudio n WHERE n.replaces_id = a.id
      AND n.narrated_story_id IS NOT NULL ORDER BY n.id LIMIT 1),
    (SELECT o.narrated_story_id FROM tts_storyaudio o WHERE o.id = a.replaces_id))
WHERE a.narrated_story_id IS NULL AND (
    EXISTS (SELECT 1 FROM tts_storyaudio n WHERE n.replaces_id = a.id AND n.narrated_story_id IS NOT NULL)
    OR EXISTS (SELECT 1 FROM tts_storyaudio o WHERE o.id = a.replaces_id AND o.narrated_story_id IS NOT NULL))
"""


def _chain_backfill() -> None:
    """Give every story narration the story of its chain: its own story in batches, then one hop
    of the replacement chains per statement (each its own transaction) until nothing changes."""
    online.backfill(
        "tts_storyaudio",
        "UPDATE tts_storyaudio SET narrated_story_id = story_id "
        "WHERE id >= :lower AND id < :upper AND story_id IS NOT NULL AND narrated_story_id IS NULL",
    )
    while op.get_bind().execute(sa.text(HOP)).rowcount:
        pass


def _catalogue() -> None:
    """The revision's transaction: nullable columns, the event table, the foreign key NOT VALID, and
    the trigger that fills `narrated_story_id` for every row written from now on."""
    op.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table in TABLES:
        op.add_column(table, sa.Column("redo_state", sa.String(20)))
    chunk_columns: list[tuple[str, sa.types.TypeEngine[Any]]] = [
        ("redo_state", sa.String(20)),
        ("redo_text", sa.Text()),
        ("redo_error", sa.Text()),
        ("redo_audio_path", sa.String(200)),
        ("redo_sample_rate", sa.Integer()),
        ("redo_seconds", sa.Float()),
        ("redo_characters_billed", sa.Integer()),
    ]
    for name, kind in chunk_columns:
        op.add_column("tts_chunk", sa.Column(name, kind))

    op.create_table(
        "tts_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("narration_kind", sa.String(10), nullable=False),
        sa.Column("narration_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("what", sa.String(30), nullable=False),
        sa.Column("passage", sa.Integer()),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("auth_user.id", ondelete="SET NULL", **_DEFERRED),  # type: ignore[arg-type]
        ),
        sa.Column("worker", sa.String(200)),
        sa.Column("message", sa.Text()),
    )
    op.create_index("ix_tts_event_narration", "tts_event", ["narration_kind", "narration_id", "at"])

    op.add_column("tts_storyaudio", sa.Column("narrated_story_id", sa.BigInteger()))
    online.add_foreign_key(
        "tts_storyaudio",
        "tts_storyaudio_narrated_story_id_fkey",
        "FOREIGN KEY (narrated_story_id) REFERENCES story_story (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED",
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tts_fill_narrated_story() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.narrated_story_id := NEW.story_id;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER tts_storyaudio_narrated_story BEFORE INSERT OR UPDATE OF story_id ON tts_storyaudio "
        "FOR EACH ROW WHEN (NEW.narrated_story_id IS NULL AND NEW.story_id IS NOT NULL) "
        "EXECUTE FUNCTION tts_fill_narrated_story()"
    )


def upgrade() -> None:
    if not online.has_column("tts_storyaudio", "narrated_story_id"):
        _catalogue()
    with online.outside_transaction():
        for table in TABLES:
            online.create_index(
                f"ix_{table}_redo", table, ["redo_state"], postgresql_where=sa.text("redo_state IS NOT NULL")
            )
        online.create_index("ix_tts_storyaudio_narrated_story_id", "tts_storyaudio", ["narrated_story_id"])
        _chain_backfill()
        online.validate("tts_storyaudio", "tts_storyaudio_narrated_story_id_fkey")


def downgrade() -> None:
    op.execute("DROP TRIGGER tts_storyaudio_narrated_story ON tts_storyaudio")
    op.execute("DROP FUNCTION tts_fill_narrated_story()")
    op.drop_index("ix_tts_storyaudio_narrated_story_id", "tts_storyaudio")
    op.drop_column("tts_storyaudio", "narrated_story_id")
    op.drop_index("ix_tts_event_narration", "tts_event")
    op.drop_table("tts_event")
    for name in ("redo_state", "redo_text", "redo_error", "redo_audio_path", "redo_sample_rate", "redo_seconds",
                 "redo_characters_billed"):  # fmt: skip
        op.drop_column("tts_chunk", name)
    for table in TABLES:
        op.drop_index(f"ix_{table}_redo", table)
        op.drop_column(table, "redo_state")
