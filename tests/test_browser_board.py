"""In a real headless Chromium: a story's board plays the story and then its scenes in order, each
starting when the last ends; a scene with nothing to play stands out; the library's row leads to the
board and the board back to the library. With SCREENSHOTS=docs this writes docs/story-board.png."""

from __future__ import annotations

from playwright.sync_api import Browser, expect
from redis import Redis

from tests.factories import LOCAL, demo_data, staff_user
from tests.live import DashboardStarter, click_cell, screenshot, settled, sign_in
from workers.engine.jobs import synthesize
from workers.service.submit import Request, submit

TEXTS = {("story", 1): "The lamp turned.", ("scene", 1): "A lighthouse at dusk.", ("scene", 2): "A cat by the lens."}


def test_play_all_plays_the_story_then_each_scene_as_the_last_one_ends(
    db: str, redis: Redis, browser: Browser, dashboard: DashboardStarter
) -> None:
    demo_data()
    staff_user("editor")
    rows = {}
    for (kind, target), text in TEXTS.items():
        rows[kind, target] = submit(Request(kind=kind, target_id=target, prompt=text, **LOCAL)).row_id  # type: ignore[arg-type]
        assert "completed" in synthesize(kind, rows[kind, target])
    order = [f"/narration-desk/audio/{kind}/{row_id}" for (kind, _), row_id in rows.items()]

    with dashboard() as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        sign_in(page, url, "editor")
        page.goto(f"{url}/board?id=1")
        expect(page.get_by_role("heading", name="The Lighthouse Keeper's Cat")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("1 of 3 scenes have no narration to play")).to_be_visible()
        expect(page.get_by_text("not narrated")).to_have_count(1)  # scene 3 stands out
        settled(page)
        screenshot(page, "story-board")

        player = page.locator("#nd-play-all")
        expect(player).to_have_count(1)
        page.evaluate(
            """() => { const audio = document.querySelector('#nd-play-all audio');
                audio.muted = true; window.played = [];
                audio.addEventListener('playing', () => window.played.push(new URL(audio.src).pathname)); }"""
        )
        player.get_by_role("button", name="Play all (3)").click()
        for number in range(3):  # each one ends on its own and the next one starts
            page.wait_for_function("(n) => window.played.length > n", arg=number, timeout=30_000)
        expect(player.get_by_text("Played all 3.")).to_be_visible(timeout=30_000)
        assert page.evaluate("() => window.played") == order

        page.get_by_role("link", name="This story in the library").click()
        expect(page.get_by_text("3 narrations · page 1 of 1")).to_be_visible(timeout=30_000)
        settled(page)
        click_cell(page, 0, "board")  # the board column: the row's story board
        expect(page.get_by_role("heading", name="The Lighthouse Keeper's Cat")).to_be_visible(timeout=30_000)
        assert "board?id=1" in page.url
