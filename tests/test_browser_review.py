"""In a real headless Chromium: a reviewer comments on a moment of a narration and requests changes;
the comment names its passage and plays from its moment in the full player. With SCREENSHOTS=docs
this writes docs/review-panel.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect
from redis import Redis

from dashboard.views import load_detail, starts
from tests.factories import staff_user
from tests.live import DashboardStarter, screenshot, settled, sign_in
from tests.test_long_text import long_story
from tests.workers_env import narrated_by_fake


def test_a_comment_on_a_moment_names_its_passage_and_plays_from_there(
    db: str, redis: Redis, browser: Browser, monkeypatch: pytest.MonkeyPatch, dashboard: DashboardStarter
) -> None:
    row_id = narrated_by_fake(long_story(9_000), monkeypatch, seconds_per_char=0.01)  # three passages, 90 s
    detail = load_detail("story", row_id)
    assert detail is not None
    second = starts(detail)[1]
    assert second is not None
    moment = int(second) + 3
    clock = f"{moment // 60}:{moment % 60:02d}"
    staff_user("editor")

    with dashboard() as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1300})
        sign_in(page, url, "editor")
        page.goto(f"{url}/narration?kind=story&id={row_id}")
        expect(page.get_by_role("heading", name=f"Story narration #{row_id}")).to_be_visible(timeout=30_000)
        settled(page)
        page.get_by_role("tab", name="Review").click()
        page.get_by_role("textbox", name="At").fill(clock)
        page.get_by_role("textbox", name="Comment").fill("Slower here, and say “Miso” as MEE-so.")
        page.get_by_role("textbox", name="Comment").press("Enter")
        settled(page)
        page.get_by_role("button", name="Add the comment").click()
        expect(page.get_by_text(f"{clock}: Slower here")).to_be_visible(timeout=30_000)
        settled(page)
        page.get_by_role("button", name="Request changes").click()
        expect(page.get_by_text(f"Requested changes to story narration #{row_id}")).to_be_visible(timeout=30_000)
        panel = page.get_by_role("tabpanel", name="Review")
        expect(panel).to_contain_text("changes requested · last review by editor")
        expect(panel.get_by_text(f"{clock} (passage 2): Slower here")).to_be_visible()
        settled(page)
        if page.get_by_role("tab", name="Review").get_attribute("aria-selected") != "true":
            page.get_by_role("tab", name="Review").click()
        screenshot(page, "review-panel")

        player = f"audio[src$='/narration-desk/audio/story/{row_id}']"
        page.evaluate("(selector) => { document.querySelector(selector).muted = true; }", player)
        page.get_by_role("button", name=f"▶ {clock}").click()
        page.wait_for_function(
            "([selector, at]) => document.querySelector(selector).currentTime >= at",
            arg=[player, moment],
            timeout=30_000,
        )
