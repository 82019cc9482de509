"""A password sign-in survives a reload and a new tab (a deep link from an alert, say), until
sign-out, in real headless Chromium."""

from __future__ import annotations

import time

from playwright.sync_api import Browser, BrowserContext, expect
from redis import Redis
from sqlalchemy import text

from db.engine import get_engine
from tests.factories import demo_data, staff_user
from tests.live import DashboardStarter, session_cookie, sign_in
from workers.service.sessions import COOKIE


def test_a_reload_and_a_new_tab_stay_signed_in_until_sign_out(
    db: str, redis: Redis, browser: Browser, dashboard: DashboardStarter
) -> None:
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


def _no_session_cookie(context: BrowserContext, timeout: float = 30) -> bool:
    """Whether the browser's session cookie is gone (the page's sign-out frame clears it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [c for c in context.cookies() if c["name"] == COOKIE]:
            return True
        time.sleep(0.2)
    return False


def test_an_idle_tab_of_a_deactivated_account_ends_and_sign_out_leaves_no_cookie(
    db: str, redis: Redis, browser: Browser, dashboard: DashboardStarter
) -> None:
    demo_data()
    staff_user("editor")
    staff_user("other")
    with dashboard() as url:
        leaving = browser.new_context()
        idle = leaving.new_page()
        sign_in(idle, url, "editor")
        staying = browser.new_context()
        own = staying.new_page()
        sign_in(own, url, "other")

        with get_engine().begin() as connection:  # as the Django admin does; nobody touches the idle tab
            connection.execute(text("UPDATE auth_user SET is_active = false WHERE username = 'editor'"))
        deactivated = time.monotonic()

        own.get_by_role("button", name="Sign out").click()
        expect(own.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
        assert _no_session_cookie(staying)  # nothing left in the browser that signs it in

        expect(idle.get_by_role("button", name="Sign in")).to_be_visible(timeout=35_000)
        print(f"the idle tab showed the sign-in form {time.monotonic() - deactivated:.1f} s after the deactivation")
        expect(idle.get_by_text("Signed in as editor")).to_have_count(0)
        assert _no_session_cookie(leaving)
        leaving.close()
        staying.close()
