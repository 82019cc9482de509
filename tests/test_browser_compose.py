"""In a real headless Chromium: submit a narration, watch it complete without reloading, play it."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect
from redis import Redis

from tests.factories import demo_data, staff_user
from tests.live import DashboardStarter, WorkerStarter, screenshot


def test_submit_then_the_card_turns_completed_and_the_player_plays(
    db: str, redis: Redis, browser: Browser, worker: WorkerStarter, dashboard: DashboardStarter
) -> None:
    demo_data()
    staff_user("editor")
    with worker(), dashboard() as url:
        # Tall enough that a screenshot shows the whole page (Streamlit scrolls inside its own container).
        page = browser.new_page(viewport={"width": 1280, "height": 1700})
        page.goto(url)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
        screenshot(page, "sign-in")
        page.get_by_role("textbox", name="Username").fill("editor")
        page.get_by_role("textbox", name="Password").fill("a long enough secret")
        page.get_by_role("button", name="Sign in").click()
        submit = page.get_by_role("button", name="Submit narration")
        expect(submit).to_be_visible(timeout=30_000)
        submit.click()

        # No reload from here on: the card polls by itself until the worker is done.
        card = page.locator("[data-testid='stMarkdownContainer']", has_text=re.compile(r"^Story narration #1 ·"))
        expect(card).to_contain_text("completed", timeout=60_000)
        audio = page.locator("audio").first
        duration = audio.evaluate(
            "a => new Promise(done => a.readyState >= 1 ? done(a.duration)"
            " : a.addEventListener('loadedmetadata', () => done(a.duration)))"
        )
        assert duration > 5, "the inline player has no playable audio"
        audio.evaluate("a => a.play()")
        page.wait_for_function("() => document.querySelector('audio').currentTime > 0.2", timeout=10_000)
        download = page.get_by_role("link", name="Download the full file")
        expect(download).to_have_attribute("href", "/narration-desk/audio/story/1?download=1")  # streamed by the route
        screenshot(page, "compose")

        page.get_by_role("link", name="Library").click()
        expect(page.get_by_text("1 narration · page 1 of 1")).to_be_visible(timeout=30_000)

        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        expect(page.get_by_role("button", name="Submit narration")).to_have_count(0)
