"""Themes and tags in their own tables, kept in step with the legacy columns Django reads.

The legacy `theme` and `tags` columns remain the ones every writer sets (Django cannot know the
new tables). Triggers derive `theme_id` and the tag links from them on every insert or update, so
the normalized view is right whichever side wrote the row; existing rows are backfilled here, in
batches after the triggers exist, so the Django app keeps writing meanwhile (db/online.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from db import online

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# (narration table, link table, link column)
LINKS = [
    ("tts_storyaudio", "tts_storyaudio_tags", "storyaudio_id"),
    ("tts_sceneaudio", "tts_sceneaudio_tags", "sceneaudio_id"),
]

SET_THEME_ID = """
CREATE OR REPLACE FUNCTION tts_set_theme_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.theme IS NULL OR btrim(NEW.theme) = '' THEN
        NEW.theme_id := NULL;
    ELSE
        INSERT INTO tts_theme (name) VALUES (NEW.theme) ON CONFLICT (name) DO NOTHING;
        SELECT id INTO NEW.theme_id FROM tts_theme WHERE name = NEW.theme;
    END IF;
    RETURN NEW;
END $$
"""

# TG_ARGV: link table, link column. Runs AFTER so the row exists for the link's foreign key.
SYNC_TAG_LINKS = """
CREATE OR REPLACE FUNCTION tts_sync_tag_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.tags IS NOT DISTINCT FROM NEW.tags THEN
        RETURN NULL;
    END IF;
    INSERT INTO tts_tag (name)
        SELECT DISTINCT t FROM unnest(NEW.tags) AS t WHERE btrim(t) <> ''
        ON CONFLICT (name) DO NOTHING;
    EXECUTE format('DELETE FROM %I WHERE %I = $1', TG_ARGV[0], TG_ARGV[1]) USING NEW.id;
    EXECUTE format(
        'INSERT INTO %I (%I, tag_id) SELECT $1, id FROM tts_tag WHERE name = ANY ($2)',
        TG_ARGV[0], TG_ARGV[1]
    ) USING NEW.id, NEW.tags;
    RETURN NULL;
END $$
"""


def _catalogue() -> None:
    """The revision's transaction: new tables, the nullable column, its foreign key NOT VALID, and
    the triggers, so every row written from now on is right; milliseconds under the tables' locks."""
    op.create_table(
        "tts_theme",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
    )
    op.create_table(
        "tts_tag",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(50), nullable=False, unique=True),
    )
    op.execute(SET_THEME_ID)
    op.execute(SYNC_TAG_LINKS)
    for table, link, column in LINKS:
        op.add_column(table, sa.Column("theme_id", sa.BigInteger()))
        online.add_foreign_key(
            table,
            f"{table}_theme_id_fkey",
            "FOREIGN KEY (theme_id) REFERENCES tts_theme (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED",
        )
        op.create_table(
            link,
            sa.Column(column, sa.BigInteger(), primary_key=True),
            sa.Column("tag_id", sa.BigInteger(), primary_key=True, index=True),
            sa.ForeignKeyConstraint(
                [column],
                [f"{table}.id"],
                ondelete="CASCADE",
                deferrable=True,
                initially="DEFERRED",
                name=f"{link}_{column}_fkey",
            ),
            sa.ForeignKeyConstraint(
                ["tag_id"],
                ["tts_tag.id"],
                ondelete="CASCADE",
                deferrable=True,
                initially="DEFERRED",
                name=f"{link}_tag_id_fkey",
            ),
        )
        op.execute(
            f"CREATE TRIGGER {table}_theme BEFORE INSERT OR UPDATE OF theme ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION tts_set_theme_id()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_tags AFTER INSERT OR UPDATE OF tags ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION tts_sync_tag_links('{link}', '{column}')"
        )


# Each batch reads its rows FOR SHARE: a row Django updates meanwhile is read as it committed (its
# trigger has then linked it already, and ON CONFLICT keeps that), never from an older snapshot.
THEMES = """
WITH batch AS (SELECT theme FROM {table} WHERE id >= :lower AND id < :upper AND theme_id IS NULL
               AND btrim(theme) <> '' FOR SHARE)
INSERT INTO tts_theme (name) SELECT DISTINCT theme FROM batch ON CONFLICT (name) DO NOTHING
"""
THEME_IDS = """
UPDATE {table} AS n SET theme_id = t.id FROM tts_theme AS t
WHERE t.name = n.theme AND n.id >= :lower AND n.id < :upper AND n.theme_id IS NULL
"""
TAGS = """
WITH batch AS (SELECT tags FROM {table} WHERE id >= :lower AND id < :upper AND tags <> '{{}}' FOR SHARE)
INSERT INTO tts_tag (name) SELECT DISTINCT t FROM batch, unnest(tags) AS t WHERE btrim(t) <> ''
ON CONFLICT (name) DO NOTHING
"""
TAG_LINKS = """
WITH batch AS (SELECT id, tags FROM {table} WHERE id >= :lower AND id < :upper AND tags <> '{{}}' FOR SHARE)
INSERT INTO {link} ({column}, tag_id)
SELECT DISTINCT n.id, g.id FROM batch AS n JOIN tts_tag AS g ON g.name = ANY (n.tags) ON CONFLICT DO NOTHING
"""


def upgrade() -> None:
    if not online.has_column("tts_sceneaudio", "theme_id"):  # the transaction's last column
        _catalogue()
    with online.outside_transaction():
        for table, link, column in LINKS:
            for statement in (THEMES, THEME_IDS, TAGS, TAG_LINKS):
                online.backfill(table, statement.format(table=table, link=link, column=column))
            online.validate(table, f"{table}_theme_id_fkey")


def downgrade() -> None:
    raise NotImplementedError("Expand-only schema.")
