"""In a real headless Chromium: the Operations page draws its Vega charts, with marks, from seeded history."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect
from redis import Redis

from tests.factories import staff_user
from tests.live import CHARTS, charts_drawn, dashboard, screenshot, sign_in
from workers.demo_history import seed_history

pytestmark = pytest.mark.slow


def test_operations_charts_render_with_data(db: str, redis: Redis, browser: Browser) -> None:
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
