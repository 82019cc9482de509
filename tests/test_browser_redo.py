"""In a real headless Chromium: redo a passage of a completed narration, stay on the Passages tab,
cancel the redo; the narration is still completed with the same audio, and the passage says so."""

from __future__ import annotations

import hashlib
import re

from playwright.sync_api import Browser, expect
from redis import Redis

from db.engine import new_session
from db.models import StoryAudio
from db.settings import get_settings
from tests.factories import LOCAL, demo_data, staff_user
from tests.live import DashboardStarter, screenshot, sign_in
from workers.engine.jobs import synthesize
from workers.service.submit import Request, submit


def _audio(row_id: int) -> tuple[str, str]:
    with new_session() as session:
        row = session.get(StoryAudio, row_id)
        assert row is not None and row.audio_file is not None
        data = (get_settings().media_path / row.audio_file).read_bytes()
        return row.status, hashlib.sha256(data).hexdigest()


def test_a_cancelled_redo_leaves_the_narration_completed_with_the_same_audio(
    db: str, redis: Redis, browser: Browser, dashboard: DashboardStarter
) -> None:
    demo_data()
    staff_user("editor")
    row_id = submit(Request(kind="story", target_id=1, prompt="The lamp was lit. The sea lay calm.", **LOCAL)).row_id
    assert "completed" in synthesize("story", row_id)
    before = _audio(row_id)

    with dashboard() as url:  # no worker: the redo waits in the queue until it is cancelled
        page = browser.new_page(viewport={"width": 1280, "height": 1500})
        sign_in(page, url, "editor")
        page.goto(f"{url}/narration?kind=story&id={row_id}")
        card = page.locator(
            "[data-testid='stMarkdownContainer']", has_text=re.compile(rf"^Story narration #{row_id} ·")
        )
        expect(card).to_contain_text("completed", timeout=30_000)
        passages = page.get_by_role("tab", name="Passages")
        passages.click()
        page.get_by_role("button", name="Narrate passage 1 again").click()

        expect(page.get_by_text(f"Queued passage 1 of story narration #{row_id} again")).to_be_visible(timeout=30_000)
        expect(passages).to_have_attribute("aria-selected", "true")  # still on the Passages tab
        expect(page.get_by_text("Passage 1 is being narrated again; wait for it")).to_be_visible()
        expect(card).to_contain_text("completed")
        screenshot(page, "redo-queued")
        page.get_by_role("button", name="Cancel the redo").click()

        expect(page.get_by_text(f"Cancelled the redo of passage 1 of story narration #{row_id}")).to_be_visible(
            timeout=30_000
        )
        expect(card).to_contain_text("completed")
        expect(passages).to_have_attribute("aria-selected", "true")
        expect(page.get_by_text("Passage 1: done · redo cancelled")).to_be_visible()
        expect(page.get_by_role("button", name="Narrate passage 1 again")).to_be_visible()  # offered again
        expect(page.locator("audio").first).to_be_attached()
    assert _audio(row_id) == before
