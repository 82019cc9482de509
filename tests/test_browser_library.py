"""In a real headless Chromium: filter the library, open a failed job and retry it, create a tag
inline, and a read-only account that never sees compose."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect
from redis import Redis

from db.engine import new_session
from db.lifecycle import cancel
from db.models import StoryAudio
from tests.factories import LOCAL, demo_data, staff_user
from tests.live import choose, dashboard, screenshot, sign_in, worker
from workers.jobs import synthesize
from workers.signin import Role
from workers.submit import Request, submit

pytestmark = pytest.mark.slow


def test_filter_open_and_retry_a_failed_job(db: str, redis: Redis, browser: Browser) -> None:
    demo_data()
    staff_user("editor")
    done = [
        submit(Request(kind="scene", target_id=i, prompt=f"Scene {i}, by the sea.", **LOCAL)).row_id for i in (1, 2)
    ]
    for row_id in done:
        synthesize("scene", row_id)
    failed = submit(Request(kind="scene", target_id=3, prompt="The fishermen climb the hill.", **LOCAL)).row_id
    with new_session() as session:
        cancel(session, "scene", failed)

    with worker(), dashboard() as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1500})
        sign_in(page, url, "editor")
        page.get_by_role("link", name="Library").click()
        expect(page.get_by_text("3 narrations · page 1 of 1")).to_be_visible(timeout=30_000)
        screenshot(page, "library")

        choose(page, "Status", "failed")
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_text("1 narration · page 1 of 1")).to_be_visible(timeout=30_000)
        assert "status=failed" in page.url  # the view is in the address: reload it, or send it to a colleague
        page.reload()
        expect(page.get_by_text("1 narration · page 1 of 1")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("combobox", name="Status")).to_have_value("failed")  # the form shows it, too
        choose(page, "Open", f"scene #{failed} · The fishermen climb the hill.")

        expect(page.get_by_role("heading", name=f"Scene narration #{failed}")).to_be_visible(timeout=30_000)
        assert f"kind=scene&id={failed}" in page.url  # a link anyone can paste
        expect(page.get_by_text("Cancelled before it finished.")).to_be_visible()
        page.get_by_role("button", name="Retry").click()
        expect(page.get_by_text(f"Queued scene narration #{failed} again")).to_be_visible(timeout=30_000)
        card = page.locator(
            "[data-testid='stMarkdownContainer']", has_text=re.compile(rf"^Scene narration #{failed} ·")
        )
        expect(card).to_contain_text("completed", timeout=60_000)  # the worker ran it; no reload needed
        expect(page.locator("audio").first).to_be_attached()
        screenshot(page, "narration")


def test_a_new_tag_typed_in_compose_is_created(db: str, redis: Redis, browser: Browser) -> None:
    demo_data()
    staff_user("editor")
    with dashboard() as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1500})
        sign_in(page, url, "editor")
        tags = page.get_by_role("combobox", name="Tags")
        tags.click()
        tags.fill("lullaby")
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")  # close the list so it does not cover the button
        page.get_by_role("button", name="Submit narration").click()
        expect(page.get_by_text("Queued story narration #")).to_be_visible(timeout=30_000)
    with new_session() as session:
        assert session.query(StoryAudio).one().tags == ["lullaby"]


def test_a_read_only_account_never_sees_compose(db: str, redis: Redis, browser: Browser) -> None:
    demo_data()
    staff_user("reader", role=Role.VIEWER)
    with dashboard() as url:
        page = browser.new_page()
        sign_in(page, url, "reader")
        expect(page.get_by_role("heading", name="Library")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Nothing yet.")).to_be_visible()
        expect(page.get_by_role("link", name="Compose")).to_have_count(0)
        expect(page.get_by_role("button", name="Submit narration")).to_have_count(0)
        page.goto(url + "/compose")  # typed by hand: the page is not there for this account
        expect(page.get_by_role("heading", name="Library")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Submit narration")).to_have_count(0)
