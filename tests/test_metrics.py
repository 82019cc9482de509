"""The Prometheus endpoints: what a worker and the dashboard export after real work, read the way
Prometheus reads them (over HTTP, parsed by prometheus_client's own parser), and what they never say."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from db.engine import new_session
from db.models import SceneAudio, StoryAudio
from tests.factories import staff_user
from tests.fake_providers import FakeProviders
from tests.live import DashboardStarter, free_port
from tests.test_reliability import OPENAI
from tests.workers_env import WorkersStarter, statuses, wait_until
from workers.engine import metrics
from workers.engine.jobs import synthesize
from workers.operations.metrics import dashboard_registry
from workers.service.submit import Request, submit

ROOT = Path(__file__).resolve().parents[1]
SECRET_TEXT = "Zanzibar quokkas whisper the vault combination"
SECRET_USER = "metrics-marple"


def samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(text: str, name: str, **labels: str) -> float | None:
    """The sample `name` with exactly these labels, or None."""
    return next((s.value for s in samples(text) if s.name == name and s.labels == labels), None)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def scraped(port: int) -> str | None:
    try:
        return scrape(port)
    except OSError:
        return None


def both_scraped(port: int) -> Callable[[], list[str] | None]:
    """What the endpoints on `port` and the next say, once both answer."""

    def scrape_both() -> list[str] | None:
        texts = [scraped(port), scraped(port + 1)]
        return [t for t in texts if t is not None] if None not in texts else None

    return scrape_both


def two_free_ports() -> int:
    """A port free now whose next one is free too (for two workers counting up from it)."""
    while True:
        port = free_port()
        with socket.socket() as next_one:
            try:
                next_one.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def assert_tells_nothing_private(text: str, *private: str) -> None:
    for secret in private:
        assert secret.lower() not in text.lower()


def test_a_provider_refusal_counts_under_its_reason(fake: FakeProviders) -> None:
    before = generate_latest(REGISTRY).decode()
    row_id = submit(Request(kind="scene", target_id=1, prompt="A red door creaks open.", **OPENAI)).row_id
    fake.fail_next("401")

    assert "failed" in synthesize("scene", row_id)

    after = generate_latest(REGISTRY).decode()

    def moved(name: str, **labels: str) -> float:
        return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

    assert moved("narration_desk_failures_total", provider="openai", reason="auth") == 1
    assert moved("narration_desk_request_failures_total", provider="openai", reason="auth") == 1
    assert moved("narration_desk_request_duration_seconds_count", provider="openai", outcome="auth") == 1
    assert moved("narration_desk_job_duration_seconds_count", provider="openai", outcome="failed") == 1
    assert moved("narration_desk_failures_total", provider="openai", reason="rate_limited") == 0
    assert_tells_nothing_private(after, fake.api_key)


def test_a_row_naming_an_unknown_provider_is_counted_as_other(fake: FakeProviders) -> None:
    """The provider label never carries what a row says: the Django app may write anything there."""
    row_id = submit(Request(kind="scene", target_id=1, prompt="A red door creaks open.", **OPENAI)).row_id
    with new_session() as session:
        row = session.get(SceneAudio, row_id)
        assert row is not None
        row.provider = "<b>zorblax</b>"
        session.commit()

    assert "failed" in synthesize("scene", row_id)

    text = generate_latest(REGISTRY).decode()
    assert "zorblax" not in text
    assert value(text, "narration_desk_failures_total", provider="other", reason="invalid")


def test_the_dashboard_counts_queued_rows_and_their_wait_by_priority(fake: FakeProviders) -> None:
    for priority in (5, 0, 0, -3):
        submit(Request(kind="scene", target_id=1, prompt=f"{SECRET_TEXT} {priority}", priority=priority, **OPENAI))
    time.sleep(0.05)

    text = generate_latest(dashboard_registry()).decode()

    depth = {p: value(text, "narration_desk_queue_depth", priority=p) for p in ("high", "default", "low")}
    assert depth == {"high": 1, "default": 2, "low": 1}
    waiting = {p: value(text, "narration_desk_rq_jobs_waiting", priority=p) for p in ("high", "default", "low")}
    assert waiting == depth
    assert (value(text, "narration_desk_queue_oldest_wait_seconds", priority="default") or 0) > 0
    assert value(text, "narration_desk_workers_alive") == 0
    assert value(text, "narration_desk_store_up", store="postgresql") == 1
    assert value(text, "narration_desk_store_up", store="redis") == 1
    assert_tells_nothing_private(text, SECRET_TEXT, fake.api_key)

    picked = generate_latest(dashboard_registry().restricted_registry(["narration_desk_queue_depth"])).decode()
    assert value(picked, "narration_desk_queue_depth", priority="default") == 2  # what `?name[]=...` asks for
    assert "narration_desk_store_up" not in picked


def exported_families() -> set[str]:
    metrics.prepare()
    families = set()
    for registry in (REGISTRY, dashboard_registry()):
        families |= {family.name for family in text_string_to_metric_families(generate_latest(registry).decode())}
    return families


def test_every_grafana_panel_asks_for_metrics_the_endpoints_export(db: str, redis: object) -> None:
    dashboard = json.loads((ROOT / "ops" / "grafana" / "narration-desk.json").read_text())
    assert dashboard["schemaVersion"] >= 36 and dashboard["title"]
    families = exported_families()
    asked = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            names = re.findall(r"\bnarration_desk_[a-z_]+", target["expr"])
            assert names, f"panel {panel['title']!r} asks for none of ours: {target['expr']}"
            asked |= set(names)
    unknown = {
        name for name in asked if re.sub(r"_(total|bucket|count|sum|created)$", "", name) not in families | {name}
    }
    assert not unknown, f"the Grafana dashboard asks for metrics nobody exports: {sorted(unknown)}"
    assert len(asked) >= 10


def test_a_workers_endpoint_counts_the_job_it_ran_and_nothing_private(
    fake: FakeProviders, workers: WorkersStarter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers on one host from the same WORKER_METRICS_PORT take that port and the next."""
    port = two_free_ports()
    monkeypatch.setenv("WORKER_METRICS_PORT", str(port))
    user = staff_user(SECRET_USER)
    row_id = submit(Request(kind="story", target_id=1, prompt=SECRET_TEXT, user_id=user.user_id, **OPENAI)).row_id

    with workers(tmp_path) as running:
        running.start()
        running.start()
        wait_until(lambda: statuses("story", [row_id]) == {row_id: "completed"}, timeout=60, what="the narration")
        texts: list[str] = wait_until(both_scraped(port), timeout=30, what="both workers' endpoints")

    with new_session() as session:
        row = session.get(StoryAudio, row_id)
        assert row is not None and row.characters_billed
    completed = sum(
        value(t, "narration_desk_job_duration_seconds_count", provider="openai", outcome="completed") or 0
        for t in texts
    )
    assert completed == 1
    billed = sum(value(t, "narration_desk_characters_billed_total", provider="openai") or 0 for t in texts)
    assert billed == row.characters_billed == len(SECRET_TEXT)
    requests = sum(
        value(t, "narration_desk_request_duration_seconds_count", provider="openai", outcome="ok") or 0 for t in texts
    )
    assert requests == 1
    for text in texts:
        assert value(text, "narration_desk_requests_in_flight", provider="openai") == 0
        assert value(text, "narration_desk_jobs_in_flight") == 0
        assert time.time() - (value(text, "narration_desk_heartbeat_timestamp_seconds") or 0) < 30
        assert value(text, "narration_desk_failures_total", provider="openai", reason="auth") == 0
        assert_tells_nothing_private(text, SECRET_TEXT, SECRET_USER, fake.api_key, "Zanzibar")


def test_the_dashboards_endpoint_shows_the_queue(
    fake: FakeProviders, dashboard: DashboardStarter, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("DASHBOARD_METRICS_PORT", str(port))
    user = staff_user(SECRET_USER)
    submit(Request(kind="story", target_id=1, prompt=SECRET_TEXT, user_id=user.user_id, priority=2, **OPENAI))

    with dashboard():
        text = wait_until(lambda: scraped(port), timeout=30, what="the dashboard's endpoint")

    assert value(text, "narration_desk_queue_depth", priority="high") == 1
    assert value(text, "narration_desk_rq_jobs_waiting", priority="high") == 1
    assert (value(text, "process_resident_memory_bytes") or 0) > 0
    assert_tells_nothing_private(text, SECRET_TEXT, SECRET_USER, fake.api_key)
