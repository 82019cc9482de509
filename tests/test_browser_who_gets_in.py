"""In a real headless Chromium: a customer of the product, with the right password, is not let in."""

from __future__ import annotations

from playwright.sync_api import Browser, expect
from redis import Redis
from sqlalchemy import text

from db.engine import get_engine
from db.passwords import make_password
from tests.factories import demo_data
from tests.live import DashboardStarter

PASSWORD = "the customer's own password"


def test_a_customer_with_the_right_password_sees_the_wrong_password_sentence(
    db: str, redis: Redis, browser: Browser, dashboard: DashboardStarter
) -> None:
    demo_data()
    with get_engine().begin() as connection:  # as the product's sign-up writes a customer
        connection.execute(
            text(
                "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, "
                "is_active, date_joined) VALUES (:password, false, 'reader42', '', '', 'r@example.org', false, "
                "true, now())"
            ),
            {"password": make_password(PASSWORD)},
        )
    with dashboard() as url:
        page = browser.new_page()
        page.goto(url)
        page.get_by_role("textbox", name="Username").fill("reader42")
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("Wrong username or password, or the account is inactive.")).to_be_visible(
            timeout=30_000
        )
        expect(page.get_by_text("Signed in as")).to_have_count(0)
        assert not [c for c in page.context.cookies() if "nd_session" in c["name"]]
        page.goto(f"{url}/library")  # a deep link after the refusal shows nothing of the library
        expect(page.get_by_text("Sign in first.")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("heading", name="Library")).to_have_count(0)
