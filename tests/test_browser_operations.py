"""In a real headless Chromium: the Operations page draws its Vega charts, with marks, from seeded history;
a cancel moves no failure rate, and a worker's current job links to its narration."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Locator, Page, expect
from redis import Redis
from sqlalchemy import text

from db.engine import get_engine, new_session
from db.heartbeats import beat
from db.lifecycle import cancelled
from tests.factories import demo_data, staff_user
from tests.live import CHARTS, DashboardStarter, charts_drawn, screenshot, sign_in
from workers.operations.demo_history import seed_history


def test_operations_charts_render_with_data(
    db: str, redis: Redis, browser: Browser, dashboard: DashboardStarter
) -> None:
    seed_history(2_000)
    staff_user("editor")
    with dashboard() as url:
        # Streamlit scrolls inside its own container, so a full-page screenshot is the viewport: make it tall.
        page = browser.new_page(viewport={"width": 1400, "height": 3000})
        sign_in(page, url, "editor")
        page.get_by_role("link", name="Operations").click()
        expect(page.get_by_role("heading", name="Operations")).to_be_visible(timeout=30_000)

        charts = charts_drawn(page)
        assert len(charts) == CHARTS
        for chart in charts:
            assert chart["width"] > 100 and chart["height"] > 100, charts
            assert chart["marks"] > 0 or chart["painted"] > 0, charts
        by_status = charts[0]
        assert by_status["coloured"] > 0, f"no completed (green) bars in 'Jobs by status': {by_status}"
        expect(page.get_by_role("button", name="Download jobs-by-status (CSV)")).to_be_visible()
        screenshot(page, "operations")


def _metric(page: Page, label: str) -> Locator:
    """The value of the metric labelled `label`."""
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def test_a_cancel_leaves_the_failure_rate_and_the_current_job_links_to_its_narration(
    db: str, redis: Redis, browser: Browser, dashboard: DashboardStarter
) -> None:
    demo_data()
    staff_user("editor")
    # The last day: three completed, one failed (finished now, as a worker stamps them), one queued, one running.
    with get_engine().begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tts_sceneaudio (prompt, image_id, created_at, updated_at, provider, status, task_id, "
                "processed_by, completed_at) SELECT 'x', 1, now(), now(), 'local', s, 'nd-' || s || n, "
                "CASE WHEN s = 'processing' THEN 'host.7' END, "
                "CASE WHEN s IN ('completed', 'failed') THEN now() END FROM unnest(ARRAY['completed', "
                "'completed', 'completed', 'failed', 'queued', 'processing']) WITH ORDINALITY AS v(s, n)"
            )
        )
        queued, running = connection.execute(
            text("SELECT id FROM tts_sceneaudio WHERE status IN ('queued', 'processing') ORDER BY id")
        ).scalars()
    with new_session() as session:  # the worker running it is alive (the live panel reads the row's worker)
        beat(session, name="host.7", host="host", pid=7)
    with dashboard() as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        sign_in(page, url, "editor")
        page.get_by_role("link", name="Library").click()
        expect(_metric(page, "Failed, last 24 h")).to_have_text("25 %", timeout=30_000)

        with new_session() as session:  # staff cancel the queued one
            assert cancelled(session, "scene", queued)
        page.reload()
        expect(_metric(page, "Jobs, last 24 h")).to_have_text("6", timeout=30_000)
        expect(_metric(page, "Failed, last 24 h")).to_have_text("25 %")

        with new_session() as session:  # still beating when the page looks
            beat(session, name="host.7", host="host", pid=7)
        page.get_by_role("link", name="Operations").click()
        link = page.get_by_role("link", name=f"host.7 is narrating scene narration #{running}")
        expect(link).to_be_visible(timeout=30_000)
        link.click()
        expect(page).to_have_url(re.compile(rf"/narration\?kind=scene&id={running}$"), timeout=30_000)
