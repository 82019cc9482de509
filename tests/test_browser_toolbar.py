"""In a real headless Chromium: staff see a tool, not a framework. The toolbar holds no "Deploy"
button and its menu no developer options (rerun, clear cache), even reached at 127.0.0.1, where
Streamlit's default toolbar mode would show them (`client.toolbarMode` in .streamlit/config.toml)."""

from __future__ import annotations

from playwright.sync_api import Browser, expect
from redis import Redis

from tests.factories import demo_data, staff_user
from tests.live import DashboardStarter, sign_in


def test_staff_see_no_deploy_button_or_developer_menu(
    db: str, redis: Redis, browser: Browser, dashboard: DashboardStarter
) -> None:
    demo_data()
    staff_user("editor")
    with dashboard() as url:
        page = browser.new_page()
        sign_in(page, url, "editor")
        menu = page.get_by_test_id("stMainMenu")
        expect(menu).to_be_visible()  # the toolbar is there: what it lacks is not a page still loading
        expect(page.get_by_test_id("stAppDeployButton")).to_have_count(0)
        expect(page.get_by_role("button", name="Deploy")).to_have_count(0)

        menu.get_by_role("button").click()
        items = page.get_by_test_id("stMainMenuList")
        expect(items).to_be_visible()
        expect(items.get_by_text("Print")).to_be_visible()  # what a viewer keeps
        for developer_item in ("Rerun", "Clear cache", "Deploy"):
            expect(items.get_by_text(developer_item)).to_have_count(0)
