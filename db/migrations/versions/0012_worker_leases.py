"""Each worker's lease: the PostgreSQL advisory lock its process holds while it lives.

`tts_worker.lease_key`: the key of the session-level advisory lock the worker holds on a
connection of its own (workers/engine/lease.py). The server drops the lock the instant that process or its
connection dies, so a row `processing` under a worker whose lock is gone is taken over within
seconds (db/leases.py), not after a 30 s heartbeat. NULL for workers of older versions, which keep
the heartbeat-age rule.

Narration Desk's own table: nothing of Django's changes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tts_worker", sa.Column("lease_key", sa.BigInteger()))


def downgrade() -> None:
    op.drop_column("tts_worker", "lease_key")
