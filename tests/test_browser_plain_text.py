"""In a real headless Chromium: text the Django side wrote shows as text, never as Markdown.

Streamlit renders alerts, captions and labels as Markdown with its own extensions; an error
message or a username written by code we do not control must not become a link, a heading, bold
text or a formula on a staff member's screen (`dashboard/plain.py`).
"""

from __future__ import annotations

from playwright.sync_api import Browser, expect
from redis import Redis
from sqlalchemy import text

from db.engine import get_engine
from tests.factories import demo_data, staff_user
from tests.live import DashboardStarter, sign_in

HOSTILE = (
    "# Heading [click here](https://evil.example/a) **loud** :red[alarm] $x^2$ "
    "see https://evil.example/login, www.evil.example or help@evil.example"
)


def test_an_error_message_and_a_username_from_the_database_show_as_text(
    db: str, redis: Redis, browser: Browser, dashboard: DashboardStarter
) -> None:
    demo_data()
    staff_user("_editor_")  # Markdown would show "editor" in italics
    with get_engine().begin() as connection:
        row_id = connection.execute(
            text(
                "INSERT INTO tts_sceneaudio (prompt, image_id, created_at, updated_at, provider, status, "
                "model_backend, error_message) VALUES ('A lighthouse.', 1, now(), now(), 'openai', 'failed', "
                "'**tts-1**', :message) RETURNING id"
            ),
            {"message": HOSTILE},
        ).scalar_one()

    with dashboard() as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1500})
        sign_in(page, url, "_editor_")  # waits for the literal "Signed in as _editor_"
        page.goto(f"{url}/narration?kind=scene&id={row_id}")
        alert = page.locator("[data-testid='stAlertContentError']", has_text="click here")
        expect(alert).to_be_visible(timeout=30_000)

        assert alert.inner_text().replace("\u2060", "").strip() == HOSTILE  # every character, as written
        assert page.locator("a[href*='evil.example']").count() == 0  # no link, not even an autolink
        assert alert.locator("h1, strong, .katex").count() == 0  # no heading, no bold, no formula
        expect(page.get_by_text("openai · **tts-1** · voice default")).to_be_visible()
