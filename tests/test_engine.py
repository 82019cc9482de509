"""Pooled connections that PostgreSQL dropped (a restart, an administrator's kill) are replaced.

The engine checks a connection only when it sat idle for a while (db/engine.py); these tests cut
the pooled connection from another session, as a restart would, and check that a page's query
and a job's claim still go through.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from db import engine
from db.engine import new_session
from db.settings import get_settings, sqlalchemy_url
from tests.fake_providers import FakeProviders
from tests.test_reliability import _paid_calls_per_row, _scene_jobs
from tests.workers_env import statuses
from workers.engine import jobs


def _pooled_backend() -> int:
    """The server process behind the connection a session gets (left in the pool afterwards)."""
    with new_session() as session:
        return int(session.scalar(text("SELECT pg_backend_pid()")) or 0)


def _cut(backend: int) -> None:
    url = sqlalchemy_url(get_settings().database_url or "").replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (backend,)).fetchone() == (True,)


def test_a_connection_cut_while_idle_is_replaced_before_a_query_uses_it(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "PING_AFTER_IDLE_SECONDS", 0.0)  # every checkout counts as idle
    cut = _pooled_backend()
    _cut(cut)

    with new_session() as session:
        assert session.scalar(text("SELECT 1")) == 1  # no error reaches the caller
    assert _pooled_backend() != cut


def test_a_claim_on_a_connection_cut_a_moment_ago_is_tried_again_and_the_row_is_narrated_once(
    fake: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "PING_AFTER_IDLE_SECONDS", 3600.0)  # the cut connection is not checked
    [row] = _scene_jobs(1, "Cut")
    _cut(_pooled_backend())

    outcome = jobs.synthesize("scene", row)

    assert outcome.startswith(f"scene #{row}: completed"), outcome
    assert statuses("scene", [row]) == {row: "completed"}
    assert _paid_calls_per_row(fake, "Cut", [row]) == {row: 1}
