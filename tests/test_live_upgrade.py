"""`db upgrade` on a database the Django app keeps writing to (db/online.py).

A reader holding a table makes the upgrade wait and retry, never Django's writes for long; an
upgrade stopped after a revision's transaction (a crash mid index build) is finished by the next
run, with the index that build left INVALID built again. `BENCH=live-upgrade` measures the same at
1M rows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db import online
from db.engine import get_engine
from db.upgrade import UpgradeReport, current_revision, head_revision, upgrade
from tests.factories import django_rows, load_django_schema
from tests.test_upgrade import _schema_drift

INSERT = text(
    """INSERT INTO tts_storyaudio (prompt, voice_style, provider, status, model_backend, tags, created_at,
                                   updated_at)
       VALUES ('Meanwhile.', 'nova', 'openai', 'queued', 'tts-1', '{}', now(), now())"""
)


def test_a_reader_holding_the_table_delays_the_upgrade_not_djangos_inserts(empty_db: str) -> None:
    with get_engine().begin() as connection:
        load_django_schema(connection)
        django_rows(connection)
    reader = get_engine().connect()
    reader.execute(text("SELECT count(*) FROM tts_storyaudio"))  # its transaction holds the table for 3 s
    threading.Timer(3.0, reader.close).start()
    reports: list[UpgradeReport] = []
    upgrading = threading.Thread(target=lambda: reports.append(upgrade()))
    upgrading.start()

    waits = []
    with get_engine().connect() as writer:
        while upgrading.is_alive():
            started = time.perf_counter()
            writer.execute(INSERT)
            writer.commit()
            waits.append(time.perf_counter() - started)
            time.sleep(0.02)
    upgrading.join()

    assert reports and reports[0].after == head_revision()
    assert len(waits) > 50  # the upgrade did wait for the reader (3 s)
    assert max(waits) < 1.0


def test_an_upgrade_stopped_mid_index_build_is_finished_by_the_next_run(
    empty_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with get_engine().begin() as connection:
        load_django_schema(connection)
        django_rows(connection)
    build = online.create_index

    def crash_in_the_first_build(name: str, table: str, columns: Sequence[Any], **options: Any) -> None:
        if name != "ix_tts_storyaudio_status":
            build(name, table, columns, **options)
            return
        # A build that fails leaves an INVALID index of the name; then the process dies.
        with pytest.raises(DBAPIError, match="division by zero"):
            op.execute(f"CREATE INDEX CONCURRENTLY {name} ON {table} ((1 / (id - id)))")
        raise KeyboardInterrupt

    monkeypatch.setattr(online, "create_index", crash_in_the_first_build)
    with pytest.raises(KeyboardInterrupt):
        upgrade()
    with get_engine().connect() as connection:
        assert current_revision(connection) == "0001"  # 0002 committed its columns, not its stamp
        assert connection.scalar(text(VALID)) is False
    monkeypatch.setattr(online, "create_index", build)

    report = upgrade()

    assert (report.before, report.after) == ("0001", head_revision())
    with get_engine().connect() as connection:
        assert connection.scalar(text(VALID)) is True
        definition = connection.scalar(text("SELECT pg_get_indexdef('ix_tts_storyaudio_status'::regclass)"))
    assert definition == "CREATE INDEX ix_tts_storyaudio_status ON public.tts_storyaudio USING btree (status)"
    assert _schema_drift() == []


VALID = """SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
           WHERE c.relname = 'ix_tts_storyaudio_status'"""
