"""The operations page (AppTest): charts with their CSV, live panels, alerts, storage, maintenance."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pytest
from redis import Redis
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from dashboard import panels, shared_history
from dashboard.operations_view import load_panels
from dashboard.session import KEY
from db.engine import get_engine, new_session
from db.events import What
from db.heartbeats import beat
from db.lifecycle import cancelled
from db.settings import get_settings
from tests.apptest import APP, selectbox, shown
from tests.factories import LOCAL, billed, demo_data, staff_user
from workers.operations.alerts import check
from workers.operations.demo_history import CANCELLED, ERRORS, SCHEDULED, seed_history
from workers.operations.health import snapshot
from workers.operations.maintenance import run_maintenance
from workers.service.roles import Role
from workers.service.submit import Request, submit

PAGE = str(Path(__file__).resolve().parents[1] / "dashboard" / "pages" / "operations.py")
NO_WORKER = "No worker has sent a heartbeat"
T = TypeVar("T")


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
    assert {"no-worker", "budget"} <= set(history["alert"]) and set(history["until"]) == {"—"}  # they still hold
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
        beat(session, name="host.1", host="host", pid=1)
    app = _signed_in(AppTest.from_file(PAGE, default_timeout=60), Role.SUPERUSER)
    assert not app.exception
    assert _metrics(app)["Workers alive"] == "1" and not any(NO_WORKER in shown(e.value) for e in app.error)
    assert _table(app, "worker")["narrating"].tolist() == [None]  # its job's row is not processing under it

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


def _verdicts(app: AppTest) -> dict[str, tuple[str, str]]:
    """Each headline's (number, verdict) as the page shows them; no verdict reads ""."""
    return {m.label: (m.value, m.proto.delta) for m in app.metric}


def test_headlines_say_healthy_watch_or_act_and_the_current_job_links_to_its_narration(
    db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_history(100)
    with get_engine().begin() as connection:  # a worker is narrating one of the stories
        running = connection.execute(
            text(
                "UPDATE tts_storyaudio SET status = 'processing', task_id = 'nd-running', started_at = now(), "
                "processed_by = 'host.1' "
                "WHERE id = (SELECT min(id) FROM tts_storyaudio) RETURNING id"
            )
        ).scalar_one()
    with new_session() as session:
        beat(session, name="host.1", host="host", pid=1)
    monkeypatch.setenv("STORAGE_QUOTA_BYTES", "1000")
    monkeypatch.setenv("ALERT_STORAGE_FRACTION", "0.8")
    get_settings.cache_clear()
    get_settings().media_path.mkdir(parents=True)
    (get_settings().media_path / "audio.wav").write_bytes(b"x" * 425)  # 42.5 %: watch from 40 %, act from 80 %
    run_maintenance("schedule")

    app = _signed_in(AppTest.from_file(APP, default_timeout=60), Role.VIEWER)  # with the pages a link can name
    app.switch_page("pages/operations.py").run()
    assert not app.exception
    shown_verdicts = _verdicts(app)
    assert shown_verdicts["Workers alive"] == ("1", "healthy")
    assert shown_verdicts["Quota used"] == ("42.5 %", "watch")
    assert shown_verdicts["Stuck in processing"] == ("0", "healthy")
    assert shown_verdicts["Scheduled for later"][1] == "", "jobs waiting on purpose get no verdict"
    assert shown_verdicts["Longest wait"][1] in ("healthy", "watch", "act")

    workers = _table(app, "worker")
    assert workers["narrating"].tolist() == [f"story narration #{running}"]
    assert workers["last heartbeat"].iloc[0].endswith(" UTC"), "times on the display zone's clock, no +00:00"
    (link,) = app.get("page_link")
    assert shown(link.proto.label) == f"host.1 is narrating story narration #{running}"
    assert link.proto.page.endswith("narration") and link.proto.query_string == f"kind=story&id={running}"

    report = _table(app, "what")
    assert list(report.columns) == ["what", "count"]
    assert "Old failed narrations cleaned" in set(report["what"]) and not app.get("json"), "a table, not JSON"


def test_the_summary_does_not_count_a_cancel_as_a_failure(db: str, redis: Redis) -> None:
    demo_data()
    with get_engine().begin() as connection:  # three completed and one failed in the last day
        connection.execute(
            text(
                "INSERT INTO tts_sceneaudio (prompt, image_id, created_at, updated_at, provider, status, completed_at) "
                "SELECT 'x', 1, now(), now(), 'local', s, now() FROM unnest(ARRAY['completed', 'completed', "
                "'completed', 'failed', 'queued']) AS s"
            )
        )
        queued = connection.execute(text("SELECT id FROM tts_sceneaudio WHERE status = 'queued'")).scalar_one()
    summary = "from dashboard.summary import summary_strip\nsummary_strip()\n"
    app = _signed_in(AppTest.from_string(summary), Role.VIEWER)
    before = _verdicts(app)
    # 25 % is past ALERT_FAILURE_RATE, but 4 finished jobs are under ALERT_FAILURE_MIN_JOBS: watch, not act
    assert before["Failed, last 24 h"] == ("25 %", "watch") and before["Jobs, last 24 h"] == ("5", "")

    with new_session() as session:
        assert cancelled(session, "scene", queued)
    after = _verdicts(app.run())
    assert after["Failed, last 24 h"] == before["Failed, last 24 h"], "a cancel is no failure"
    assert after["Jobs, last 24 h"] == ("5", ""), "it is still a job asked for"


def test_the_page_draws_before_any_job_has_started(db: str, redis: Redis) -> None:
    """A fresh install, or a window holding only rows no worker has taken yet (rows the Django app
    queued): there is no latency to show, and the page still draws every chart."""
    demo_data()
    with get_engine().begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tts_sceneaudio (prompt, image_id, provider, status, created_at, updated_at) "
                "VALUES ('x', 1, 'local', 'queued', now(), now())"
            )
        )
    app = _signed_in(AppTest.from_file(PAGE, default_timeout=60), Role.STAFF)
    assert not app.exception
    assert len(app.get("vega_lite_chart")) == 6


def test_people_looking_at_the_same_view_share_one_read_of_it(
    db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two people open Operations on the default view a moment apart: the history and the live state are
    read once for both (with 25 sessions, each reading them was what made the page take seconds:
    `dashboard/shared_history.py`), and both see the same numbers."""
    seed_history(200)
    reads = {"history": 0, "live state": 0}

    def counted(name: str, read: Callable[..., T]) -> Callable[..., T]:
        def wrapper(*args: Any, **kwargs: Any) -> T:
            reads[name] += 1
            return read(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(shared_history, "load_panels", counted("history", load_panels))
    monkeypatch.setattr(panels, "snapshot", counted("live state", snapshot))
    first = _signed_in(AppTest.from_file(PAGE, default_timeout=60), Role.VIEWER)
    second = _signed_in(AppTest.from_file(PAGE, default_timeout=60), Role.STAFF)

    assert not first.exception and not second.exception
    assert reads == {"history": 1, "live state": 1}
    assert _metrics(second) == _metrics(first)
    assert [c.proto.spec for c in second.get("vega_lite_chart")] == [c.proto.spec for c in first.get("vega_lite_chart")]
    assert [c.value for c in second.caption] == [c.value for c in first.caption]


def test_events_are_listed_by_kind_with_a_link_to_their_narration(db: str, redis: Redis) -> None:
    demo_data()
    editor = staff_user("editor")
    submit(Request(kind="scene", target_id=1, prompt="A gull on the rail.", user_id=editor.user_id, **LOCAL))
    second = submit(Request(kind="scene", target_id=2, prompt="Fog over the bay.", user_id=editor.user_id, **LOCAL))
    with new_session() as session:
        assert cancelled(session, "scene", second.row_id, user_id=editor.user_id)
    app = _signed_in(AppTest.from_file(PAGE, default_timeout=60), Role.VIEWER)

    every = _table(app, "event")
    assert every["event"].tolist() == ["cancelled", "submitted", "submitted"]  # newest first
    selectbox(app, "Kind of event").set_value(What.CANCELLED).run()
    only = _table(app, "event")
    assert only[["event", "narration", "by"]].values.tolist() == [
        ["cancelled", f"scene narration #{second.row_id}", "editor"]
    ]
    assert only["open"].tolist() == [f"narration?kind=scene&id={second.row_id}"]
    selectbox(app, "Kind of event").set_value(What.DELETED).run()
    assert "No event of this kind in this range." in [c.value for c in app.caption]
