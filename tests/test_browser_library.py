"""In a real headless Chromium: filter the library (a cancel is not a failure), open a failed job with a
click on its row and retry it, the table fits the page, create a tag inline, and a read-only account
that never sees compose."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect
from redis import Redis

from db.engine import new_session
from db.lifecycle import cancel
from db.models import SceneAudio, StoryAudio
from tests.factories import LOCAL, demo_data, staff_user
from tests.live import DashboardStarter, WorkerStarter, choose, click_cell, screenshot, settled, sign_in
from workers.engine.jobs import synthesize
from workers.service.roles import Role
from workers.service.submit import Request, submit


def _set_voice(row_id: int, voice: str) -> None:
    with new_session() as session:
        session.query(SceneAudio).filter_by(id=row_id).update({"voice_style": voice})
        session.commit()


def test_filter_open_and_retry_a_failed_job(
    db: str, redis: Redis, browser: Browser, worker: WorkerStarter, dashboard: DashboardStarter
) -> None:
    demo_data()
    staff_user("editor")
    done = [
        submit(Request(kind="scene", target_id=i, prompt=f"Scene {i}, by the sea.", **LOCAL)).row_id for i in (1, 2)
    ]
    for row_id in done:
        synthesize("scene", row_id)
    failed = submit(Request(kind="scene", target_id=3, prompt="The fishermen climb the hill.", **LOCAL)).row_id
    _set_voice(failed, "retired-voice")
    synthesize("scene", failed)  # a real failure: the worker finds no such voice
    stopped = submit(Request(kind="scene", target_id=4, prompt="A workshop of clocks.", **LOCAL)).row_id
    with new_session() as session:
        cancel(session, "scene", stopped)  # stopped on purpose: cancelled, not failed

    with worker(), dashboard() as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1500})
        sign_in(page, url, "editor")
        page.get_by_role("link", name="Library").click()
        expect(page.get_by_text("4 narrations · page 1 of 1")).to_be_visible(timeout=30_000)
        table = page.locator("[data-testid='stDataFrame']")
        # A scene row names its story (the grid keeps its cells' text for screen readers).
        fishermen = "Fishermen climbing a green hill at sunrise, carrying a basket of silver fish."
        expect(table.get_by_text(f"{fishermen} in “The Lighthouse Keeper's Cat”")).to_have_count(1)
        scroller = table.locator(".dvn-scroller")
        widths = scroller.evaluate("(grid) => [grid.scrollWidth, grid.clientWidth]")
        assert widths[0] <= widths[1], f"the table scrolls sideways at 1280 px: {widths}"  # every column in view
        screenshot(page, "library")

        choose(page, "Status", "failed")
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_text("1 narration · page 1 of 1")).to_be_visible(timeout=30_000)  # not the cancelled one
        assert "status=failed" in page.url  # the view is in the address: reload it, or send it to a colleague
        page.reload()
        expect(page.get_by_text("1 narration · page 1 of 1")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("combobox", name="Status")).to_have_value("failed")  # the form shows it, too
        expect(table.get_by_text(f"scene #{failed}", exact=True)).to_have_count(1)
        click_cell(page, 0, "voice")  # any cell of its row opens it

        expect(page.get_by_role("heading", name=f"Scene narration #{failed}")).to_be_visible(timeout=30_000)
        assert f"kind=scene&id={failed}" in page.url  # a link anyone can paste
        # why, on the card (the history below says it again, in its "failed" event)
        expect(page.get_by_test_id("stAlertContentError").get_by_text("no voice 'retired-voice'")).to_be_visible()
        _set_voice(failed, "joe")  # an administrator put the voice back
        settled(page)
        page.get_by_role("button", name="Retry").click()
        expect(page.get_by_text(f"Queued scene narration #{failed} again")).to_be_visible(timeout=30_000)
        card = page.locator(
            "[data-testid='stMarkdownContainer']", has_text=re.compile(rf"^Scene narration #{failed} ·")
        )
        expect(card).to_contain_text("completed", timeout=60_000)  # the worker ran it; no reload needed
        expect(page.locator("audio").first).to_be_attached()
        screenshot(page, "narration")


def test_a_new_tag_typed_in_compose_is_created(
    db: str, redis: Redis, browser: Browser, dashboard: DashboardStarter
) -> None:
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


def test_a_read_only_account_never_sees_compose(
    db: str, redis: Redis, browser: Browser, dashboard: DashboardStarter
) -> None:
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
