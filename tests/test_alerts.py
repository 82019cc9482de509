"""Alert rules on a known live state, and the webhook against a real local HTTP server."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from redis import Redis
from sqlalchemy import text

from db import alert_log
from db.engine import get_engine, new_session
from db.heartbeats import beat
from db.settings import get_settings
from tests.apptest import shown
from tests.factories import billed, demo_data
from tests.live import DashboardStarter, WorkerStarter
from workers.operations import verdicts
from workers.operations.alerts import Alert, check, evaluate, notify
from workers.operations.health import snapshot, storage
from workers.operations.verdicts import Verdict


def _rows(values: str) -> None:
    """Scene narrations (image 1) given as `(provider, status, created_at, started_at, completed_at,
    scheduled_at, cancelled_at)` SQL tuples relative to now()."""
    with get_engine().begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tts_sceneaudio (prompt, image_id, created_at, updated_at, provider, status, started_at, "
                "completed_at, scheduled_at, cancelled_at) SELECT 'x', 1, c, c, p, s, st, co, sc, ca FROM (VALUES "
                f"{values}) AS v(p, s, c, st, co, sc, ca)"
            )
        )


@pytest.fixture
def live_state(db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    demo_data()
    n = "now()"
    ago = "now() - interval '{}'"
    recent = f"{ago.format('5 min')}"
    none = "NULL::timestamptz"
    failed = f"('openai', 'failed', {recent}, {recent}, {recent}, {none}, {none})"
    done = f"('{{}}', 'completed', {recent}, {recent}, {recent}, {none}, {none})"
    _rows(
        ", ".join(
            [failed] * 4
            + [done.format("openai")]
            # a person cancelling is no failure of the pipeline; an hour ago is not recent
            + [f"('openai', 'failed', {recent}, {none}, {recent}, {none}, {recent})"]
            + [f"('openai', 'failed', {ago.format('2 h')}, {none}, {ago.format('1 h')}, {none}, {none})"]
            + [done.format("local")] * 9
            + [f"('local', 'failed', {recent}, {recent}, {recent}, {none}, {none})"]
            + [f"('local', 'queued', {ago.format('20 min')}, {none}, {none}, {none}, {none})"]
            + [f"('local', 'queued', {n}, {none}, {none}, {n} + interval '1 day', {none})"]
            + [f"('local', 'processing', {ago.format('2 h')}, {ago.format('2 h')}, {none}, {none}, {none})"]
        )
    )
    monkeypatch.setenv("STORAGE_QUOTA_BYTES", "1000")
    get_settings.cache_clear()
    get_settings().media_path.mkdir(parents=True)
    (get_settings().media_path / "audio.wav").write_bytes(b"x" * 950)


def test_the_live_state_and_every_rule(live_state: None) -> None:
    health = snapshot()
    assert [(r.provider, r.failed, r.finished) for r in health.failures] == [("local", 1, 10), ("openai", 4, 5)]
    assert [(q.priority, q.due, q.later) for q in health.queues] == [(0, 1, 1)]
    assert health.oldest_due_age is not None and 19 * 60 < health.oldest_due_age.total_seconds() < 21 * 60
    assert len(health.stuck) == 1 and health.workers_alive == 0

    alerts = evaluate(health, storage(), get_settings())
    assert [a.key for a in alerts] == ["failure-rate:openai", "queue-age", "no-worker", "storage"]
    assert alerts[0].message.startswith("4 of the last 5 openai jobs failed (80 % in 15 min).")
    assert alerts[1].message.startswith("The oldest due job has waited 20 min for a worker.")
    assert alerts[3].message.startswith("Stored audio (MEDIA_ROOT or the bucket) uses 95 % of the")

    with new_session() as session:
        beat(session, name="host.1", host="host", pid=1)
    assert "no-worker" not in [a.key for a in evaluate(snapshot(), storage(), get_settings())]


def test_no_worker_waits_for_the_start_grace(live_state: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """`narration-desk run` starts the dashboard and a worker together; the worker beats only once its
    voice is loaded. Inside the grace "no worker" is quiet, after it a real absence alerts."""
    monkeypatch.setenv("WORKER_START_GRACE_SECONDS", "90")
    get_settings.cache_clear()
    health = snapshot()
    started = health.checked_at - timedelta(seconds=89)
    assert "no-worker" not in [a.key for a in evaluate(health, None, get_settings(), since=started)]
    assert verdicts.workers(health, get_settings(), since=started) is Verdict.WATCH
    started = health.checked_at - timedelta(seconds=90)
    assert "no-worker" in [a.key for a in evaluate(health, None, get_settings(), since=started)]
    assert verdicts.workers(health, get_settings(), since=started) is Verdict.ACT
    with new_session() as session:
        beat(session, name="host.1", host="host", pid=1)
    assert verdicts.workers(snapshot(), get_settings(), since=started) is Verdict.HEALTHY


class Hook(BaseHTTPRequestHandler):
    """Records each POST body; answers with the status the test sets."""

    received: ClassVar[list[dict[str, Any]]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append({"path": self.path, "json": json.loads(body)})
        self.send_response(Hook.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def webhook(redis: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Hook.received, Hook.status = [], 200
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T0-SECRET-TOKEN"
    monkeypatch.setenv("ALERT_WEBHOOK_URL", url)
    get_settings.cache_clear()
    yield url
    server.shutdown()


ALERTS = [Alert("queue-age", "The oldest due job has waited 20 min."), Alert("no-worker", "No worker.")]


def test_each_alert_is_posted_once_per_repeat_period(webhook: str, redis: Redis) -> None:
    assert notify(ALERTS, get_settings(), redis) == ALERTS
    assert notify(ALERTS, get_settings(), redis) == [], "a rerun of the page posts nothing new"
    new = Alert("storage", "Storage is nearly full.")
    assert notify([*ALERTS, new], get_settings(), redis) == [new]

    assert [r["path"] for r in Hook.received] == ["/hooks/T0-SECRET-TOKEN"] * 2
    first = Hook.received[0]["json"]
    assert first["text"] == "Narration Desk: The oldest due job has waited 20 min. No worker."
    assert [a["key"] for a in first["alerts"]] == ["queue-age", "no-worker"]
    assert 3500 < redis.ttl("nd:alert:queue-age") <= 3600


def test_a_failing_webhook_is_retried_and_its_url_never_logged(
    webhook: str, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    Hook.status = 500
    with caplog.at_level(logging.WARNING):
        assert notify(ALERTS, get_settings(), redis) == []
    assert "alert webhook failed (HTTPStatusError 500)" in caplog.text
    assert "SECRET" not in caplog.text and "SECRET" not in repr(get_settings())
    Hook.status = 200
    assert notify(ALERTS, get_settings(), redis) == ALERTS, "nothing was marked posted when the post failed"


def test_no_webhook_no_post(redis: Redis) -> None:
    assert notify(ALERTS, get_settings(), redis) == [] and redis.keys("nd:alert:*") == []


def _first_post(seconds: float = 60) -> set[str]:
    """The alert keys of the first POST the webhook receives."""
    deadline = time.monotonic() + seconds
    while not Hook.received and time.monotonic() < deadline:
        time.sleep(0.5)
    assert Hook.received, "nobody posted the alerts"
    return {a["key"] for a in Hook.received[0]["json"]["alerts"]}


def test_a_worker_posts_the_alerts_with_no_page_open(live_state: None, webhook: str, worker: WorkerStarter) -> None:
    with worker():
        keys = _first_post()
    assert {"failure-rate:openai", "queue-age", "storage"} <= keys


def test_a_dashboard_posts_no_worker_with_every_worker_down_and_no_page_open(
    live_state: None, webhook: str, dashboard: DashboardStarter
) -> None:
    with dashboard():  # no browser connects
        keys = _first_post()
    assert {"no-worker", "failure-rate:openai", "queue-age", "storage"} <= keys


def test_a_freshly_started_dashboard_is_quiet_about_workers_in_its_grace(
    live_state: None, webhook: str, monkeypatch: pytest.MonkeyPatch, dashboard: DashboardStarter
) -> None:
    monkeypatch.setenv("WORKER_START_GRACE_SECONDS", "90")
    with dashboard():  # its first check runs at once, before any worker could have beaten
        keys = _first_post()
    assert {"failure-rate:openai", "queue-age", "storage"} <= keys and "no-worker" not in keys


def test_the_months_spend_against_the_budget(db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    demo_data()
    billed(60_000)  # $0.90 at tts-1's $15 per million characters
    billed(1_000_000, "date_trunc('month', now()) - interval '1 day'")  # last month's $15 is not this month's
    assert snapshot().budget is None  # no budget set: no figure, no alert

    monkeypatch.setenv("MONTHLY_BUDGET_USD", "1")
    get_settings.cache_clear()
    health = snapshot()
    assert health.budget is not None and health.budget.spent_usd == pytest.approx(0.90)
    (alert,) = [a for a in evaluate(health, None, get_settings()) if a.key == "budget"]
    assert alert.message.startswith("This month's paid voices have cost about $0.90, 90 % of the $1.00 budget.")

    monkeypatch.setenv("ALERT_BUDGET_FRACTION", "0.95")
    get_settings.cache_clear()
    assert "budget" not in [a.key for a in evaluate(snapshot(), None, get_settings())]


T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def _history(around: datetime = T0) -> list[tuple[str, str, bool]]:
    """(key, message, still holds) of the spans within a day of `around`, oldest first."""
    with new_session() as session:
        found = alert_log.spans(session, around - timedelta(days=1), around + timedelta(days=1))
        return [(s.key, s.message, s.ended_at is None) for s in reversed(found)]


def test_the_history_keeps_one_span_per_alert_from_start_to_end(db: str) -> None:
    minute = timedelta(minutes=1)
    with new_session() as session:
        alert_log.record(session, {"queue-age": "waited 10 min"}, T0)
        alert_log.record(session, {"queue-age": "waited 11 min", "no-worker": "No worker."}, T0 + minute)
        alert_log.record(session, {"no-worker": "No worker."}, T0 + 2 * minute)  # the queue drained
    assert _history() == [("queue-age", "waited 11 min", False), ("no-worker", "No worker.", True)]
    with new_session() as session:
        alert_log.record(session, {}, T0 + 3 * minute)  # a worker is back: all clear
        alert_log.record(session, {"queue-age": "waited 10 min"}, T0 + 9 * minute)  # a new span, not the old one
        spans = alert_log.spans(session, T0, T0 + 5 * minute)  # only what overlaps the range
        assert [(s.key, s.started_at, s.last_seen_at, s.ended_at) for s in spans] == [
            ("no-worker", T0 + minute, T0 + 2 * minute, T0 + 3 * minute),
            ("queue-age", T0, T0 + minute, T0 + 2 * minute),
        ]
    assert [key for key, _, holds in _history() if holds] == ["queue-age"]


def test_the_minutely_check_writes_the_history(live_state: None, redis: Redis) -> None:
    check(get_settings(), redis)
    holding = {key for key, _, holds in _history(datetime.now(UTC)) if holds}
    assert {"failure-rate:openai", "queue-age", "storage", "no-worker"} <= holding


def test_webhook_text_from_the_database_cannot_ping_or_link(webhook: str, redis: Redis) -> None:
    """A provider name is whatever a row says; in Slack's `text`, `<!channel>` would ping everyone."""
    hostile = Alert("failure-rate:<!channel>", "5 of the last 5 <!channel> <https://evil.example|docs> jobs failed.")
    assert notify([hostile], get_settings(), redis) == [hostile]
    posted = Hook.received[0]["json"]["text"]
    assert "<" not in posted and ">" not in posted
    assert "&lt;!channel&gt; &lt;https://evil.example|docs&gt;" in posted


def test_a_page_render_shows_the_alerts_but_never_posts_them(live_state: None, webhook: str) -> None:
    from streamlit.testing.v1 import AppTest

    page = AppTest.from_string("from dashboard.summary import summary_strip\nsummary_strip()\n", default_timeout=60)
    page.run()
    assert not page.exception
    assert any("openai jobs failed" in shown(e.value) for e in page.error)  # the banner holds
    assert Hook.received == [], "only the background check posts"
