"""Themes and tags in their own tables, kept in step with the legacy columns Django reads.

The legacy `theme` and `tags` columns remain the ones every writer sets (Django cannot know the
new tables). Triggers derive `theme_id` and the tag links from them on every insert or update, so
the normalized view is right whichever side wrote the row; existing rows are backfilled here.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

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


def upgrade() -> None:
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
        op.create_foreign_key(
            f"{table}_theme_id_fkey",
            table,
            "tts_theme",
            ["theme_id"],
            ["id"],
            ondelete="SET NULL",
            deferrable=True,
            initially="DEFERRED",
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
        # Backfill in set operations, before the triggers exist, so big tables stay quick.
        op.execute(
            f"INSERT INTO tts_theme (name) SELECT DISTINCT theme FROM {table} "
            "WHERE theme IS NOT NULL AND btrim(theme) <> '' ON CONFLICT (name) DO NOTHING"
        )
        op.execute(f"UPDATE {table} AS n SET theme_id = t.id FROM tts_theme AS t WHERE t.name = n.theme")
        op.execute(
            f"INSERT INTO tts_tag (name) SELECT DISTINCT t FROM {table}, unnest(tags) AS t "
            "WHERE btrim(t) <> '' ON CONFLICT (name) DO NOTHING"
        )
        op.execute(
            f"INSERT INTO {link} ({column}, tag_id) SELECT DISTINCT n.id, g.id FROM {table} AS n "
            "JOIN tts_tag AS g ON g.name = ANY (n.tags)"
        )
        op.execute(
            f"CREATE TRIGGER {table}_theme BEFORE INSERT OR UPDATE OF theme ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION tts_set_theme_id()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_tags AFTER INSERT OR UPDATE OF tags ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION tts_sync_tag_links('{link}', '{column}')"
        )


def downgrade() -> None:
    raise NotImplementedError("Expand-only schema.")
