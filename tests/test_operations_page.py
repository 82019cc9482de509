"""The operations page (AppTest): charts with their CSV, live panels, alerts, storage, maintenance."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from redis import Redis
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from dashboard.session import KEY
from db.engine import get_engine, new_session
from db.heartbeats import beat
from db.settings import get_settings
from tests.apptest import shown
from tests.factories import billed, staff_user
from workers.alerts import check
from workers.demo_history import CANCELLED, ERRORS, SCHEDULED, seed_history
from workers.signin import Role

PAGE = str(Path(__file__).resolve().parents[1] / "dashboard" / "pages" / "operations.py")
NO_WORKER = "No worker has sent a heartbeat"


def _signed_in(app: AppTest, role: Role) -> AppTest:
    app.session_state[KEY] = staff_user(f"a-{role}", role=role)
    return app.run()


def _metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def _table(app: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in app.dataframe if column in d.value.columns)


def test_a_viewer_sees_every_chart_with_its_csv_and_the_alerts(
    db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_history(400)
    billed(10_000)  # $0.15 this month, whatever day of the month it is
    monkeypatch.setenv("MONTHLY_BUDGET_USD", "0.01")
    get_settings.cache_clear()
    check(get_settings(), redis)  # the minutely check a worker or dashboard runs: it keeps the history
    app = _signed_in(AppTest.from_file(PAGE, default_timeout=60), Role.VIEWER)
    app.button_group[0].set_value("Last 30 days").run()

    assert not app.exception
    assert len(app.get("vega_lite_chart")) == 6
    assert [b.proto.label for b in app.get("download_button")] == [
        "Download jobs-by-status (CSV)", "Download jobs-by-provider (CSV)", "Download failure-rate (CSV)",
        "Download latency (CSV)", "Download cost-per-day (CSV)", "Download audio-hours (CSV)",
    ]  # fmt: skip
    assert any(NO_WORKER in shown(e.value) for e in app.error)
    assert any(shown(e.value).startswith("This month's paid voices have cost about $") for e in app.error)
    assert "The budget is $0.01 a month, for every provider and project together." in [c.value for c in app.caption]
    history = _table(app, "alert")
    assert {"no-worker", "budget"} <= set(history["alert"]) and history["until"].isna().all()  # they still hold
    metrics = _metrics(app)
    assert metrics["Scheduled for later"] == str(SCHEDULED) and metrics["Workers alive"] == "0"
    assert "Run maintenance now" not in [b.label for b in app.button], "viewers may not run maintenance"

    errors = _table(app, "message")
    top_count = int(errors["jobs"].iloc[0])
    assert list(errors["jobs"]) == sorted(errors["jobs"], reverse=True)
    jobs = _table(app, "kind")
    assert len(jobs) == min(top_count, 50), "the jobs behind the top error are listed"
    first = jobs.iloc[0]
    assert first["open"] == f"narration?kind={first['kind']}&id={first['id']}", "each job links to its page"


def test_range_and_filters_narrow_what_is_shown(db: str, redis: Redis) -> None:
    seed_history(600)
    app = _signed_in(AppTest.from_file(PAGE, default_timeout=60), Role.VIEWER)
    app.button_group[0].set_value("Last 30 days").run()
    assert any("one bar per 1 day" in c.value for c in app.caption)
    provider = next(s for s in app.selectbox if s.label == "Provider")
    provider.set_value("local").run()
    assert not app.exception
    assert set(_table(app, "message")["message"]) <= {*ERRORS["local"], CANCELLED}


def test_a_superuser_with_a_live_worker_runs_maintenance(db: str, redis: Redis) -> None:
    seed_history(100)
    with new_session() as session:
        beat(session, name="host.1", host="host", pid=1, current_job="nd-abc")
    app = _signed_in(AppTest.from_file(PAGE, default_timeout=60), Role.SUPERUSER)
    assert not app.exception
    assert _metrics(app)["Workers alive"] == "1" and not any(NO_WORKER in shown(e.value) for e in app.error)
    assert _table(app, "worker")["current job"].tolist() == ["nd-abc"]

    next(b for b in app.button if b.label == "Run maintenance now").click().run()
    assert any(s.value.startswith("Maintenance done") for s in app.success)
    with get_engine().connect() as connection:
        assert connection.execute(text("SELECT trigger FROM tts_maintenance_run")).scalars().all() == ["dashboard"]


def test_the_home_summary_counts_the_last_day(db: str, redis: Redis) -> None:
    seed_history(300)
    with get_engine().connect() as connection:
        expected = connection.execute(
            text(
                "SELECT (SELECT count(*) FROM tts_storyaudio WHERE created_at >= now() - interval '1 day') "
                "+ (SELECT count(*) FROM tts_sceneaudio WHERE created_at >= now() - interval '1 day')"
            )
        ).scalar_one()
    app = _signed_in(AppTest.from_string("from dashboard.summary import summary_strip\nsummary_strip()\n"), Role.VIEWER)
    assert not app.exception
    assert _metrics(app)["Jobs, last 24 h"] == f"{expected:,}"
    assert any(NO_WORKER in shown(e.value) for e in app.error)
