"""Library page in a real browser: first paint and a filter change at 100,000 narrations vs 1,000,
and the story board its first row leads to.

The same dashboard process and browser measure both sizes in one run: rows are added in bulk
with one INSERT … SELECT between the two measurements. Each figure is the median of several
tries, timed from the click until the page shows the new row count (the table has rendered), or
for the board, from the click in the row's *board* cell until its last scene's line and the play-all
player are drawn. The rows are spread over the demo's 7 scene images, so at 100,000 each of the
first story's 3 scenes has about 14,000 narrations, of which the board shows the newest.
"""

from __future__ import annotations

import secrets
import statistics
import time

from playwright.sync_api import Page, expect
from redis import Redis
from sqlalchemy import text

from db.engine import get_engine, new_session
from db.users import create_user
from tests.live import choose, click_cell, dashboard, headless_chromium, settled, sign_in

SMALL, LARGE = 1_000, 100_000
TRIES = 5
PASSWORD = secrets.token_urlsafe(24)  # a throwaway account in a throwaway database

# Scene narrations spread over the 7 demo images and 90 days, a quarter failed, each with a
# 2 KB preview the list must never read.
_FILL = """
INSERT INTO tts_sceneaudio (prompt, base64_audio, provider, status, model_backend, voice_style, tags, image_id,
                            user_id, created_at, updated_at, duration_seconds, error_message, attempts, max_attempts,
                            priority)
SELECT 'Scene ' || i || ': the lamp turned and the sea was quiet. ' || repeat('A calm sentence. ', 40),
       repeat(md5(i::text), 64), (ARRAY['local', 'openai', 'elevenlabs'])[1 + i % 3],
       CASE WHEN i % 4 = 0 THEN 'failed' ELSE 'completed' END, 'tts-1', 'nova', '{}', 1 + i % 7, :user_id,
       now() - (i % 129600) * interval '1 minute', now(), 12.5,
       CASE WHEN i % 4 = 0 THEN 'OpenAI rate limit' END, 1, 3, 0
FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS i
"""


def fill(first: int, last: int, user_id: int) -> None:
    """Scene narrations `first`..`last` (see _FILL) in one statement: 100,000 rows in seconds. Then
    VACUUM ANALYZE, as autovacuum does within a minute or so of such an insert: a library that has
    been in use has its statistics and its visibility map, and the count reads an index alone."""
    with new_session() as session:
        session.execute(text(_FILL), {"first": first, "last": last, "user_id": user_id})
        session.commit()
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as autocommit:
        autocommit.execute(text("VACUUM ANALYZE tts_sceneaudio"))


def _timed(page: Page, action: str, count: int) -> float:
    """Seconds from the action to the row count of the result being on the page."""
    started = time.perf_counter()
    if action == "open":
        page.get_by_role("link", name="Library").click()
        shown = f"{count:,} narrations · page 1 of"
    else:
        choose(page, "Status", "failed")
        page.get_by_role("button", name="Apply").click()
        shown = f"{count // 4:,} narrations · page 1 of"
    expect(page.get_by_text(shown)).to_be_visible(timeout=60_000)
    page.locator("[data-testid='stDataFrame']").wait_for()
    return time.perf_counter() - started


def _last_scene_of_newest() -> int:
    """The last scene image of the story the library's first row (the newest narration) is of."""
    with new_session() as session:
        return int(
            session.execute(
                text(
                    "SELECT max(i.id) FROM images_image i WHERE i.story_id = (SELECT m.story_id FROM images_image m "
                    "WHERE m.id = (SELECT image_id FROM tts_sceneaudio ORDER BY created_at DESC, id DESC LIMIT 1))"
                )
            ).scalar_one()
        )


def _board(page: Page) -> float:
    """Seconds from a click in the first row's board cell to its board drawn (last line, player)."""
    last = _last_scene_of_newest()
    page.locator("[data-testid='stDataFrame']").hover()  # as a person's pointer is over the table before a click
    page.wait_for_timeout(500)
    started = time.perf_counter()
    click_cell(page, 0, "board")
    page.locator(f".st-key-board-scene-{last}").wait_for(timeout=60_000)
    page.locator("#nd-play-all").wait_for(timeout=60_000)
    return time.perf_counter() - started


def _measure(page: Page, count: int) -> tuple[float, float, float]:
    opens, filters, boards = [], [], []
    for _ in range(TRIES):
        page.get_by_role("link", name="Compose").click()
        expect(page.get_by_role("button", name="Submit narration")).to_be_visible(timeout=30_000)
        opens.append(_timed(page, "open", count))
        filters.append(_timed(page, "filter", count))
        choose(page, "Status", "any status")
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_text(f"{count:,} narrations · page 1 of")).to_be_visible(timeout=60_000)
        settled(page)
        boards.append(_board(page))
    return statistics.median(opens), statistics.median(filters), statistics.median(boards)


def run(connection: Redis) -> dict[str, float]:
    with new_session() as session:
        user_id = create_user(session, username="bench", password=PASSWORD).id
        session.commit()
    fill(1, SMALL, user_id)
    with headless_chromium() as browser, dashboard() as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1200})
        sign_in(page, url, "bench", PASSWORD)
        small_open, small_filter, small_board = _measure(page, SMALL)
        fill(SMALL + 1, LARGE, user_id)
        large_open, large_filter, large_board = _measure(page, LARGE)
    return {
        f"first paint at {SMALL:,} rows (s)": small_open,
        f"first paint at {LARGE:,} rows (s)": large_open,
        f"first paint ratio {LARGE:,} / {SMALL:,} (goal <= 1.5)": large_open / small_open,
        f"filter change at {SMALL:,} rows (s)": small_filter,
        f"filter change at {LARGE:,} rows (s)": large_filter,
        f"filter change ratio {LARGE:,} / {SMALL:,} (goal <= 1.5)": large_filter / small_filter,
        f"story board at {SMALL:,} rows (s)": small_board,
        f"story board at {LARGE:,} rows (s)": large_board,
        f"story board ratio {LARGE:,} / {SMALL:,} (goal <= 1.5)": large_board / small_board,
    }
