"""In a real headless Chromium: the library's QC badge and Quality filter, and the narration page's
per-passage chart with its flagged passages marked, a click on one playing it from its start.
With SCREENSHOTS=docs this writes docs/library-qc.png and docs/qc-chart.png for the README."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect
from redis import Redis

from dashboard.qc_chart import FLAGGED_COLOUR
from dashboard.views import load_detail, starts
from tests.factories import LOCAL, demo_data, staff_user
from tests.fake_providers import FakeProviders
from tests.live import DashboardStarter, charts_drawn, choose, screenshot, settled, sign_in
from tests.test_long_text import long_story
from tests.workers_env import providers_on
from workers.engine import catalogue
from workers.engine.chunking import split
from workers.engine.jobs import synthesize
from workers.service.submit import Request, submit

OPENAI_NOVA: dict[str, Any] = {"provider": "openai", "model": "tts-1", "voice": "nova"}


def _narrations(monkeypatch: pytest.MonkeyPatch) -> int:
    """A story in five passages whose second and fourth the provider sent 20 dB quieter (flagged),
    beside a scene that passes, one the local voice narrated unmastered (it clips) and one still
    queued: the story's id."""
    demo_data()
    text = long_story(19_000)
    planned = split(text, catalogue.model("openai", "tts-1").max_chars)  # type: ignore[union-attr]
    # 0.066 s a character: 15 characters a second, as people speak (the chart's rates read true)
    with FakeProviders(seconds_per_char=0.066) as fake, providers_on(fake, monkeypatch):
        fake.quieter.update({planned[1]: 20.0, planned[3]: 20.0})
        # Raw (not mastered), so the passages stay as the provider sent them: mastering would even them out
        story = Request(kind="story", target_id=1, prompt=text, mastering="raw", **OPENAI_NOVA)
        row_id = submit(story).row_id
        assert "completed" in synthesize("story", row_id)
        even = Request(kind="scene", target_id=3, prompt="A lamp turns over a quiet sea.", **OPENAI_NOVA)
        assert "completed" in synthesize("scene", submit(even).row_id)  # one passage at a steady level: passes
    lighthouse = "A tall white lighthouse at dusk."
    scene = submit(Request(kind="scene", target_id=1, prompt=lighthouse, mastering="raw", **LOCAL)).row_id
    assert "completed" in synthesize("scene", scene)
    submit(Request(kind="scene", target_id=2, prompt="The fishermen climb the hill.", **LOCAL))
    return row_id


def test_the_badge_the_filter_and_the_chart(
    db: str, redis: Redis, browser: Browser, monkeypatch: pytest.MonkeyPatch, dashboard: DashboardStarter
) -> None:
    row_id = _narrations(monkeypatch)
    staff_user("editor")
    detail = load_detail("story", row_id)
    assert detail is not None
    fourth = starts(detail)[3]
    assert fourth is not None and fourth > 60

    with dashboard() as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1500})
        sign_in(page, url, "editor")
        page.get_by_role("link", name="Library").click()
        expect(page.get_by_text("4 narrations · page 1 of 1")).to_be_visible(timeout=30_000)
        table = page.locator("[data-testid='stDataFrame']")
        expect(table.get_by_text("2 flagged", exact=True)).to_have_count(1)  # the story: passes, two flagged
        expect(table.get_by_text("✓ passes", exact=True)).to_have_count(1)
        widths = table.locator(".dvn-scroller").evaluate("(grid) => [grid.scrollWidth, grid.clientWidth]")
        assert widths[0] <= widths[1], f"the table scrolls sideways at 1280 px: {widths}"
        screenshot(page, "library-qc")

        choose(page, "Quality", "has flagged passages")
        page.get_by_role("button", name="Apply").click()
        # the story, and the local voice's scene: it clips (+0.1 dBTP), so it fails and its passage is flagged
        expect(page.get_by_text("2 narrations · page 1 of 1")).to_be_visible(timeout=30_000)
        assert "quality=has+flagged+passages" in page.url  # a link to the view keeps the filter

        page.goto(f"{url}/narration?kind=story&id={row_id}")
        expect(page.get_by_role("heading", name=f"Story narration #{row_id}")).to_be_visible(timeout=30_000)
        settled(page)
        page.get_by_role("tab", name="Passages").click()
        charts_drawn(page, 1)
        flagged = page.locator(f".vega-embed svg g.role-mark path[fill='{FLAGGED_COLOUR}']")
        expect(flagged).to_have_count(4)  # passages 2 and 4, in the loudness and the speaking-rate panel
        expect(page.get_by_role("button", name="Re-narrate the 2 flagged passages")).to_be_visible()

        box = flagged.nth(1).bounding_box()  # passage 4 in the loudness panel (points are drawn in order)
        assert box is not None
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        player = "audio[src*='/narration-desk/audio/story/']"
        page.wait_for_function(
            "([selector, at]) => { const audio = document.querySelector(selector);"
            " return audio !== null && audio.currentTime >= at && audio.currentTime < at + 5; }",
            arg=[player, int(fourth)],
            timeout=30_000,
        )  # the full player went to passage 4's start
        expect(page.get_by_role("spinbutton", name="Passage")).to_have_value("4")
        settled(page)
        page.evaluate("(selector) => document.querySelector(selector).pause()", player)
        charts_drawn(page, 1)
        point = flagged.nth(0).bounding_box()
        assert point is not None
        page.mouse.move(point["x"] + point["width"] / 2, point["y"] + point["height"] / 2)  # its flag, in the tooltip
        expect(page.locator("#vg-tooltip-element")).to_contain_text("LU quieter than its neighbours", timeout=10_000)
        screenshot(page, "qc-chart")
