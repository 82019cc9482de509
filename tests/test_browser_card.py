"""In a real headless Chromium: the sidebar before sign-in, a deep link followed after sign-in, Delete
through its dialog, Replace that unticks after a submit, and the compose card that follows the form."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect
from redis import Redis

from db.engine import new_session
from db.models import SceneAudio, StoryAudio
from tests.factories import LOCAL, demo_data, staff_user
from tests.live import DashboardStarter, choose, settled, sign_in
from workers.engine.jobs import synthesize
from workers.service.roles import Role
from workers.service.submit import Request, submit

PASSWORD = "a long enough secret"


def test_deep_link_sign_in_then_delete_through_the_dialog(
    db: str, redis: Redis, browser: Browser, dashboard: DashboardStarter
) -> None:
    demo_data()
    staff_user("admin", role=Role.SUPERUSER)
    row_id = submit(Request(kind="scene", target_id=3, prompt="The fishermen climb the hill.", **LOCAL)).row_id
    synthesize("scene", row_id)
    story = submit(Request(kind="story", target_id=2, prompt="The clock tower.", **LOCAL)).row_id

    with dashboard() as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.goto(f"{url}/narration?kind=scene&id={row_id}")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1_000)  # the page list, were it shown, arrives with the first run
        expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)  # no page names before sign-in
        for name in ("compose", "library", "narration", "operations"):
            expect(page.get_by_role("link", name=re.compile(name, re.IGNORECASE))).to_have_count(0)

        page.get_by_role("textbox", name="Username").fill("admin")
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        heading = page.get_by_role("heading", name=f"Scene narration #{row_id}")
        expect(heading).to_be_visible(timeout=30_000)  # where the link pointed, not Compose
        assert f"kind=scene&id={row_id}" in page.url

        settled(page)  # a click while the page's run is still drawing it is lost
        page.get_by_role("button", name="Delete", exact=True).click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text(
            f"This deletes scene narration #{row_id} for good: the row, its audio file and 1 passage file."
        )
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_have_count(0, timeout=10_000)
        with new_session() as session:
            assert session.get(SceneAudio, row_id) is not None  # Cancel in the dialog deletes nothing

        page.get_by_role("button", name="Delete", exact=True).click()
        page.get_by_role("dialog").get_by_role("button", name="Delete for good").click()
        expect(page.get_by_text(f"Deleted scene narration #{row_id} and 2 file(s).")).to_be_visible(timeout=30_000)
        with new_session() as session:
            assert session.get(SceneAudio, row_id) is None

        # Again on a server that has listed its pages before: the form shows at the link's address too.
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
        page.goto(f"{url}/narration?kind=story&id={story}")
        expect(page.get_by_text("Sign in first.")).to_be_visible(timeout=30_000)
        expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
        page.get_by_role("textbox", name="Username").fill("admin")
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name=f"Story narration #{story}")).to_be_visible(timeout=30_000)


def test_replace_unticks_after_a_submit_and_the_card_follows_the_form(
    db: str, redis: Redis, browser: Browser, dashboard: DashboardStarter
) -> None:
    demo_data()
    staff_user("editor")
    first = submit(Request(kind="story", target_id=1, prompt="The lighthouse cat.", **LOCAL)).row_id
    synthesize("story", first)

    with dashboard() as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1700})
        sign_in(page, url, "editor")
        choose(page, "Story", "The Lighthouse Keeper's Cat")
        replace_box = page.get_by_role("checkbox", name="Replace the current narration")
        expect(page.get_by_text("Submit is refused unless “Replace the current narration” is ticked")).to_be_visible(
            timeout=30_000
        )
        page.get_by_text("Replace the current narration", exact=True).click()
        expect(page.get_by_text(f"#{first} keeps playing, here and in the storytelling app")).to_be_visible()
        page.get_by_role("button", name=f"Replace narration #{first}").click()
        expect(page.get_by_text("Queued story narration #")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Just submitted from this form: story “The Lighthouse Keeper's Cat”")).to_be_visible()
        with new_session() as session:
            second = session.query(StoryAudio).filter(StoryAudio.id != first).one().id
        expect(page.get_by_text(f"#{second} is already replacing it")).to_be_visible()

        synthesize("story", second)  # what the worker does; the card notices by itself and redraws the page
        expect(replace_box).to_be_visible(timeout=30_000)
        expect(replace_box).not_to_be_checked()  # a later submit cannot silently replace again
        expect(page.get_by_role("button", name="Submit narration")).to_be_visible()

        page.get_by_text("the scene", exact=True).click()  # another mode: the story's card goes
        expect(page.get_by_text("Just submitted from this form")).to_have_count(0, timeout=30_000)
        expect(page.get_by_text(re.compile(r"^Story narration #"))).to_have_count(0)
