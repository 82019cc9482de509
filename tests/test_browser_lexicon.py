"""In a real headless Chromium: an entry is written and heard on the spot in the local voice, saved,
and a completed narration that says the term shows up to be narrated again. With SCREENSHOTS=docs
this writes docs/lexicon-editor.png."""

from __future__ import annotations

from playwright.sync_api import Browser, expect
from redis import Redis

from tests.factories import LOCAL, demo_data, staff_user
from tests.live import DashboardStarter, screenshot, settled, sign_in
from workers.engine.jobs import synthesize
from workers.service.lexicon import save_entry
from workers.service.submit import Request, submit


def test_an_entry_is_heard_saved_and_marks_the_narration_that_says_it(
    db: str, redis: Redis, browser: Browser, dashboard: DashboardStarter
) -> None:
    demo_data()
    editor = staff_user("editor")
    save_entry(None, "lighthouse", "LITE-house", editor)
    row_id = submit(
        Request(kind="scene", target_id=1, prompt="Miso watched the lamp of the lighthouse.", **LOCAL)
    ).row_id
    assert "completed" in synthesize("scene", row_id)

    with dashboard() as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1300})
        sign_in(page, url, "editor")
        page.goto(f"{url}/lexicon")
        expect(page.get_by_role("heading", name="Pronunciation lexicon")).to_be_visible(timeout=30_000)
        page.get_by_role("textbox", name="Term").fill("Miso")
        page.get_by_role("textbox", name="Say it as").fill("MEE-so")
        page.get_by_role("textbox", name="Say it as").press("Enter")
        settled(page)
        page.get_by_role("button", name="Hear it").click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('audio')].some(a => a.readyState >= 1 && a.duration > 0.3)",
            timeout=30_000,
        )  # the word alone, a fraction of a second to a second or two: it loads and has a length
        settled(page)
        page.get_by_role("button", name="Save the entry").click()
        expect(page.get_by_text("Saved “Miso” → “MEE-so”. 1 completed narration holds it")).to_be_visible(
            timeout=30_000
        )
        expect(page.get_by_text(f"Scene narration #{row_id}: “Miso” in passage 1")).to_be_visible()
        expect(page.get_by_role("button", name="Narrate passage 1 again")).to_be_visible()
        settled(page)
        screenshot(page, "lexicon-editor")
