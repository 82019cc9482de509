"""Monitoring at millions of rows: the bill in a column, and one narrow index for the history panels.

`characters_billed` was only inside the `audio_metadata` JSON, so summing a month of bills parsed
every completed row's JSON. It is now a column, backfilled from the metadata (or, for rows the
Django app completed without metadata, the prompt's length), and kept filled by a trigger for
rows that any writer, ours or Django's, marks completed without it.

`ix_<table>_history` is on `created_at` and carries every column the history panels read, so a
month of status, provider, latency, cost and audio aggregates is an index-only scan of a narrow
index instead of a scan of the wide rows. `ix_<table>_completed` serves the live failure rate
(jobs finished in the last minutes), which the alerts read every minute. Nullable column and
indexes only: Django is untouched. On a live database the trigger comes first, then the backfill
in batches and the indexes built concurrently, outside the revision's transaction (db/online.py).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from db import online

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("tts_storyaudio", "tts_sceneaudio")
HISTORY = ["status", "provider", "model_backend", "started_at", "completed_at", "duration_seconds", "characters_billed"]


def _catalogue() -> None:
    """The revision's transaction: the column and the trigger that fills it on every completion
    from now on; the rows completed before are backfilled after it."""
    op.execute("SET CONSTRAINTS ALL IMMEDIATE")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tts_fill_characters_billed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.characters_billed := coalesce(
                (NEW.audio_metadata ->> 'characters_billed')::integer, char_length(NEW.prompt));
            RETURN NEW;
        END $$
        """
    )
    for table in TABLES:
        op.add_column(table, sa.Column("characters_billed", sa.Integer()))
        op.execute(
            f"CREATE TRIGGER {table}_billed BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW "
            "WHEN (NEW.status = 'completed' AND NEW.characters_billed IS NULL) "
            "EXECUTE FUNCTION tts_fill_characters_billed()"
        )


def upgrade() -> None:
    if not online.has_column("tts_sceneaudio", "characters_billed"):
        _catalogue()
    with online.outside_transaction():
        for table in TABLES:
            online.backfill(
                table,
                f"UPDATE {table} SET characters_billed = coalesce("
                "(audio_metadata ->> 'characters_billed')::integer, char_length(prompt)) "
                "WHERE id >= :lower AND id < :upper AND status = 'completed' AND characters_billed IS NULL",
            )
            online.create_index(f"ix_{table}_history", table, ["created_at"], postgresql_include=HISTORY)
            online.create_index(f"ix_{table}_completed", table, ["completed_at"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_completed", table)
        op.drop_index(f"ix_{table}_history", table)
        op.execute(f"DROP TRIGGER {table}_billed ON {table}")
        op.drop_column(table, "characters_billed")
    op.execute("DROP FUNCTION tts_fill_characters_billed()")
