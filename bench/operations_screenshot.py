"""`python -m bench.operations_screenshot`: docs/operations-1m.png, the Operations page over 1,000,000 rows.

In a throwaway database ("nd_ops_screenshot" on `DATABASE_URL`'s server, or an embedded one) and
Redis (`REDIS_URL`'s database 10, or an embedded one): seeds the history with `seed-demo --rows`'
seeder, starts the dashboard, signs in in headless Chromium, opens Operations, picks the last 30
days, waits until every chart is drawn with marks, and saves the whole page. `OPS_ROWS` and
`OPS_SCREENSHOT` change the size and the file.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from playwright.sync_api import expect

from bench.setup import bench_environment
from db.engine import new_session
from db.users import create_user
from tests.live import CHARTS, charts_drawn, dashboard, headless_chromium, sign_in
from workers.operations.demo_history import seed_history

ROWS = int(os.environ.get("OPS_ROWS", "1000000"))
OUTPUT = Path(os.environ.get("OPS_SCREENSHOT", Path(__file__).resolve().parents[1] / "docs" / "operations-1m.png"))
DATABASE = "nd_ops_screenshot"
PASSWORD = secrets.token_urlsafe(24)  # a throwaway account in a throwaway database


def main() -> None:
    with bench_environment(DATABASE):
        started = time.perf_counter()
        seed_history(ROWS)
        print(f"seeded {ROWS:,} rows in {time.perf_counter() - started:.1f} s")
        with new_session() as session:
            create_user(session, username="operator", password=PASSWORD, staff=True)
        with dashboard() as url, headless_chromium() as browser:
            # Streamlit scrolls inside its own container: the viewport is grown to the page's height below.
            page = browser.new_page(viewport={"width": 1400, "height": 3000})
            sign_in(page, url, "operator", PASSWORD)
            page.get_by_role("link", name="Operations").click()
            expect(page.get_by_role("heading", name="Operations")).to_be_visible(timeout=60_000)
            charts_drawn(page, timeout=120_000)
            page.get_by_text("Last 30 days", exact=True).click()
            expect(page.get_by_text("one bar per 1 day")).to_be_visible(timeout=120_000)
            charts = charts_drawn(page, timeout=120_000)
            empty = [i for i, chart in enumerate(charts) if not (chart["marks"] or chart["painted"])]
            if len(charts) != CHARTS or empty or not charts[0]["coloured"]:
                raise SystemExit(f"the charts are not all drawn: {charts}")
            height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
            page.set_viewport_size({"width": 1400, "height": int(height) + 40})  # the whole page, nothing cut
            charts_drawn(page, timeout=120_000)
            page.wait_for_timeout(1_000)  # let Streamlit's transitions settle
            OUTPUT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUTPUT), full_page=True)
            print(f"saved {OUTPUT} ({', '.join(str(chart['marks']) for chart in charts)} marks per chart)")


if __name__ == "__main__":
    main()
