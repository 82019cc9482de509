"""One person's round of the dashboard in a browser tab, timed from each action to its result on the screen.

Used by `bench/dashboard_load.py`, which says what is measured and why the client is a browser.
Every wait ends at what the person waits for: the library's row count and table, the estimate's
numbers, the six charts drawn, the live card. The tests' synchronous helpers (`tests/live.py`
`sign_in`, `choose`) cannot share one browser among concurrent sessions, so the steps they take
are written here with `await`.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.async_api import Browser, BrowserContext, Page, Response, expect
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests.live import CHARTS
from workers.service.sessions import COOKIE

THINK = float(os.environ.get("LOAD_THINK_SECONDS", "2"))
"""A person's pause between two actions (each drawn between half and one and a half times it). Two
seconds is a busy person: at 25 sessions that is 8 to 12 page runs a second."""
ACTION_TIMEOUT = 30_000  # ms: an action whose result has not shown by then counts as an error
STAY_ON_CARD = 6.0  # s on a narration page: three polls of its live card
PASSWORD = secrets.token_urlsafe(24)  # throwaway accounts in a throwaway database
SIGN_IN = "sign in"
_BASE_PROBES = ("/_stcore/health", "/_stcore/host-config")
"""Opened at /narration?…, Streamlit's page first asks /narration/_stcore/… in case the app is served
under that path, and takes the 404 as "no": part of every deep link, not an error anyone sees."""
_PAUSES = random.Random(14)  # noqa: S311 - pauses, not security; the same every run


def pause(think: float) -> float:
    """Seconds a person pauses before the next action: between half and one and a half times `think`,
    so that sessions started together drift apart as people do instead of acting in step."""
    return think * _PAUSES.uniform(0.5, 1.5)


@dataclass
class Tally:
    """What the sessions measured: seconds per kind of action, and errors by kind (with examples)."""

    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        if len(self.examples) < 20:
            self.examples.append(f"{kind}: {what}")

    def watch(self, tab: Page) -> None:
        """Count HTTP errors and script errors in this tab as they happen."""

        def answered(response: Response) -> None:
            path = urlsplit(response.url).path
            if response.status >= 400 and not (response.status == 404 and path.endswith(_BASE_PROBES)):
                self.error("http", f"{response.status} {path}")

        tab.on("response", answered)
        tab.on("pageerror", lambda error: self.error("script", str(error).splitlines()[0]))

    async def timed(self, name: str, tab: Page, action: Callable[[], Awaitable[None]]) -> bool:
        """Run `action` (which ends when its result is on the screen); False if it failed."""
        started, done = time.perf_counter(), False
        try:
            await action()
        except (PlaywrightTimeout, AssertionError):  # Playwright's `expect` fails with AssertionError
            self.error("timeout", name)
            if folder := os.environ.get("SCREENSHOTS"):  # what the person saw instead
                await tab.screenshot(path=f"{folder}/load-timeout-{sum(self.errors.values())}.png")
        except PlaywrightError as error:
            self.error("browser", f"{name}: {str(error).splitlines()[0]}")
        else:
            self.times[name].append(time.perf_counter() - started)
            done = True
        if shown := await tab.get_by_test_id("stException").count():
            self.error("exception", f"{name}: {shown} on the page")
            done = False
        return done


@dataclass(frozen=True)
class Library:
    """What the run works on, read before it: the row counts the pages must show, the rows with live
    cards, and the staff accounts (`load<n>`, by session number)."""

    total: int
    failed: int
    live_rows: list[int]
    users: list[int]


async def _settled(tab: Page) -> None:
    """Wait for the run in progress to end before the next click, as a person waits for the page
    (a click on an element a run is redrawing can be lost)."""
    await expect(tab.get_by_test_id("stStatusWidgetRunningIcon")).to_have_count(0, timeout=ACTION_TIMEOUT)


async def _sign_in(tab: Page, url: str, username: str) -> None:
    await tab.goto(url)
    await tab.get_by_role("textbox", name="Username").fill(username)
    await tab.get_by_role("textbox", name="Password").fill(PASSWORD)
    await tab.get_by_role("button", name="Sign in").click()
    await expect(tab.get_by_text(f"Signed in as {username}")).to_be_visible(timeout=ACTION_TIMEOUT)
    for _ in range(ACTION_TIMEOUT // 100):  # the page's frame trades its claim for the cookie
        if any(cookie["name"] == COOKIE for cookie in await tab.context.cookies()):
            return
        await asyncio.sleep(0.1)
    raise PlaywrightTimeout("the sign-in never reached the browser as a cookie")


async def _choose(tab: Page, label: str, option: str) -> None:
    await tab.get_by_role("combobox", name=label).click()
    await tab.get_by_role("option", name=option, exact=True).click()


class Tour:
    """One person's round of the dashboard, step by step; each step times what the person waits for."""

    def __init__(self, tab: Page, url: str, n: int, library: Library, tally: Tally) -> None:
        self.tab, self.url, self.n, self.library, self.tally = tab, url, n, library, tally
        self.rounds = 0

    async def library_page(self) -> None:
        await _settled(self.tab)

        async def opened() -> None:
            await self.tab.get_by_role("link", name="Library").click()
            await self._count_shown(self.library.total)

        await self.tally.timed("library: open", self.tab, opened)

    async def filters(self) -> None:
        for option, count in (("failed", self.library.failed), ("any status", self.library.total)):
            await _settled(self.tab)
            await _choose(self.tab, "Status", option)

            async def applied(count: int = count) -> None:
                await self.tab.get_by_role("button", name="Apply").click()
                await self._count_shown(count)

            await self.tally.timed("library: filter", self.tab, applied)

    async def _count_shown(self, count: int) -> None:
        shown = self.tab.get_by_text(f"{count:,} narrations · page 1 of")
        await expect(shown).to_be_visible(timeout=ACTION_TIMEOUT)
        await self.tab.locator("[data-testid='stDataFrame']").wait_for(timeout=ACTION_TIMEOUT)

    async def live_card(self) -> None:
        row = self.library.live_rows[self.n % len(self.library.live_rows)]

        async def opened() -> None:
            await self.tab.goto(f"{self.url}/narration?kind=scene&id={row}")
            card = self.tab.get_by_test_id("stMarkdown").filter(has_text=f"Scene narration #{row} ·")
            await expect(card).to_be_visible(timeout=ACTION_TIMEOUT)

        if await self.tally.timed("narration page (live card)", self.tab, opened):
            await asyncio.sleep(STAY_ON_CARD)

    async def compose_estimate(self) -> None:
        await _settled(self.tab)

        async def opened() -> None:
            await self.tab.get_by_role("link", name="Compose").click()
            await expect(self.tab.get_by_role("button", name="Submit narration")).to_be_visible(timeout=ACTION_TIMEOUT)

        if not await self.tally.timed("compose: open", self.tab, opened):
            return
        self.rounds += 1
        words = f"Session {self.n}, round {self.rounds}. " + "A calm sentence. " * (5 + self.rounds % 40)
        box = self.tab.get_by_role("textbox", name="Text to narrate")
        await _settled(self.tab)
        await box.fill(words)

        async def estimated() -> None:
            await box.press("Control+Enter")  # applies the text, as leaving the box does
            characters = self.tab.get_by_test_id("stMetric").filter(has_text="Characters")
            await expect(characters.get_by_test_id("stMetricValue")).to_have_text(
                f"{len(words):,}", timeout=ACTION_TIMEOUT
            )

        await self.tally.timed("compose: estimate", self.tab, estimated)

    async def operations(self) -> None:
        await _settled(self.tab)

        async def drawn() -> None:
            await self.tab.get_by_role("link", name="Operations").click()
            charts = self.tab.locator(".vega-embed canvas, .vega-embed svg")
            await expect(charts).to_have_count(CHARTS, timeout=ACTION_TIMEOUT)

        await self.tally.timed("operations: charts drawn", self.tab, drawn)

    async def recover(self) -> None:
        """After a failed step, start again from the dashboard's address (the sign-in is resumed)."""
        try:
            await self.tab.goto(self.url)
            await expect(self.tab.get_by_text("Signed in as")).to_be_visible(timeout=ACTION_TIMEOUT)
        except (PlaywrightError, AssertionError) as error:
            self.tally.error("browser", f"recovering: {str(error).splitlines()[0]}")


async def open_session(browser: Browser, url: str, n: int, tally: Tally) -> tuple[BrowserContext, Page] | None:
    context = await browser.new_context(viewport={"width": 1280, "height": 1200})
    tab = await context.new_page()
    tally.watch(tab)
    if not await tally.timed(SIGN_IN, tab, lambda: _sign_in(tab, url, f"load{n}")):
        await context.close()
        return None
    return context, tab


async def tour_until(tour: Tour, deadline: float) -> None:
    steps = [tour.library_page, tour.filters, tour.live_card, tour.compose_estimate, tour.operations]
    await asyncio.sleep(pause(THINK))  # as the websocket sessions: not every first click in one instant
    while time.monotonic() < deadline:
        for step in steps:
            if time.monotonic() >= deadline:
                return
            errors = sum(tour.tally.errors.values())
            try:
                await step()
            except (PlaywrightError, AssertionError) as error:  # an untimed wait (the page never settled)
                tour.tally.error("browser" if type(error) is PlaywrightError else "timeout", step.__name__)
            if sum(tour.tally.errors.values()) > errors:
                await tour.recover()
            await asyncio.sleep(pause(THINK))


async def wave(browser: Browser, url: str, sessions: int, library: Library, tally: Tally) -> None:
    """Sessions that sign in, open three pages and close."""

    async def one(n: int) -> None:
        opened = await open_session(browser, url, n, tally)
        if opened is None:
            return
        context, tab = opened
        tour = Tour(tab, url, n, library, tally)
        for step in (tour.library_page, tour.operations, tour.live_card):
            try:
                await step()
            except (PlaywrightError, AssertionError) as error:
                tally.error("browser" if type(error) is PlaywrightError else "timeout", step.__name__)
                break
        await context.close()

    await asyncio.gather(*(one(n) for n in range(sessions)))
