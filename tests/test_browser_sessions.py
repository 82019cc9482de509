"""A password sign-in survives a reload and a new tab (a deep link from an alert, say), until
sign-out, in real headless Chromium."""

from __future__ import annotations

from playwright.sync_api import Browser, expect
from redis import Redis

from tests.factories import demo_data, staff_user
from tests.live import dashboard, session_cookie, sign_in


def test_a_reload_and_a_new_tab_stay_signed_in_until_sign_out(db: str, redis: Redis, browser: Browser) -> None:
    demo_data()
    staff_user("editor")
    with dashboard() as url:
        context = browser.new_context()
        first = context.new_page()
        sign_in(first, url, "editor")
        cookie = session_cookie(first)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"  # no script reads it, no other site sends it

        first.reload()
        expect(first.get_by_text("Signed in as editor")).to_be_visible(timeout=30_000)
        expect(first.get_by_role("button", name="Sign in")).to_have_count(0)

        second = context.new_page()
        second.goto(url + "/library")
        expect(second.get_by_role("heading", name="Library")).to_be_visible(timeout=30_000)
        expect(second.get_by_text("Signed in as editor")).to_be_visible()

        first.get_by_role("button", name="Sign out").click()
        expect(first.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
        second.reload()  # the other tab's next load finds the session ended too
        expect(second.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)

        elsewhere = browser.new_page()  # another browser (no cookie) must sign in
        elsewhere.goto(url + "/library")
        expect(elsewhere.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
        context.close()
