"""In a real headless Chromium: the narration page plays the whole file from the audio route and
seeks past the end of the preview, by itself and from a passage's start; the route answers Range
requests and refuses a browser without a session; the download link is the route."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect
from redis import Redis

from dashboard import labels
from dashboard.views import load_detail, starts
from db.engine import new_session
from db.models import StoryAudio
from db.settings import get_settings
from tests.factories import staff_user
from tests.live import DashboardStarter, settled, sign_in
from tests.test_long_text import long_story
from tests.workers_env import narrated_by_fake
from workers.service.roles import Role


def _narrated(monkeypatch: pytest.MonkeyPatch) -> tuple[int, bytes, float, float]:
    """A story narrated by the fake provider in three passages, 90 s: longer than its preview."""
    row_id = narrated_by_fake(long_story(9_000), monkeypatch, seconds_per_char=0.01)
    with new_session() as session:
        row = session.get(StoryAudio, row_id)
        assert row is not None and row.audio_file and row.duration_seconds and row.audio_metadata
        preview = float(row.audio_metadata["preview_seconds"])
        return row_id, (get_settings().media_path / row.audio_file).read_bytes(), preview, row.duration_seconds


def test_the_whole_narration_plays_and_seeks_past_the_preview(
    db: str, redis: Redis, browser: Browser, monkeypatch: pytest.MonkeyPatch, dashboard: DashboardStarter
) -> None:
    row_id, data, preview, seconds = _narrated(monkeypatch)
    staff_user("reader", role=Role.VIEWER)
    route = f"/narration-desk/audio/story/{row_id}"

    with dashboard() as url:
        outsider = browser.new_context()  # no session: neither the file nor a part of it
        refused = outsider.request.get(url + route, headers={"Range": "bytes=0-99"})
        assert refused.status == 401 and data[:100] not in refused.body()
        outsider.close()

        page = browser.new_page()
        sign_in(page, url, "reader")
        page.goto(f"{url}/narration?kind=story&id={row_id}")
        expect(page.get_by_role("heading", name=f"Story narration #{row_id}")).to_be_visible(timeout=30_000)
        player = page.locator(f"audio[src$='{route}']")
        expect(player).to_have_count(1, timeout=30_000)  # the full file, not the base64 preview
        link = page.get_by_role("link", name="Download the full file")
        assert (link.get_attribute("href") or "").endswith(f"{route}?download=1")

        beyond = preview + 20
        assert beyond < seconds - 5  # still inside the file
        settled(page)  # as a person does: the page has finished drawing, the player knows the file's length
        page.wait_for_function(
            "(selector) => document.querySelector(selector).readyState >= 1", arg=f"audio[src$='{route}']"
        )
        page.evaluate(
            "([selector, at]) => { const audio = document.querySelector(selector);"
            " audio.muted = true; audio.currentTime = at; return audio.play(); }",
            [f"audio[src$='{route}']", beyond],
        )
        page.wait_for_function(
            "([selector, at]) => { const audio = document.querySelector(selector);"
            " return audio.readyState >= 3 && audio.currentTime > at + 0.5 && !audio.paused; }",
            arg=[f"audio[src$='{route}']", beyond],
            timeout=20_000,
        )

        detail = load_detail("story", row_id)
        assert detail is not None and len(detail.chunks) == 3
        third = starts(detail)[2]
        assert third is not None and third > preview  # a passage the preview does not reach
        page.get_by_role("tab", name="Passages").click()
        page.get_by_role("spinbutton", name="Passage").fill("3")
        page.get_by_role("spinbutton", name="Passage").press("Enter")
        page.get_by_role("button", name=f"Play from {labels.length(third)} in the full player").click()
        page.wait_for_function(
            "([selector, at]) => { const audio = document.querySelector(selector);"
            " return audio.currentTime >= at && audio.currentTime < at + 5; }",
            arg=[f"audio[src$='{route}']", int(third)],
            timeout=20_000,
        )

        part = page.evaluate(
            "async (route) => { const answer = await fetch(route, {headers: {Range: 'bytes=100-199'}});"
            " const bytes = Array.from(new Uint8Array(await answer.arrayBuffer()));"
            " return [answer.status, answer.headers.get('content-range'), bytes]; }",
            route,
        )  # as the page's own script, with the browser's session cookie
        assert part == [206, f"bytes 100-199/{len(data)}", list(data[100:200])]
