"""Alembic migrations; `narration-desk db upgrade` runs them (see `db.upgrade`)."""
