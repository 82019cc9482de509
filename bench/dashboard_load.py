"""The dashboard under load: many signed-in staff sessions at once against the 100,000-row library.

Each session signs in and then, until the time is up, goes round what staff do all day: opens the
library, filters it by status and back, opens a narration's page whose card is live (a queued row:
the card re-reads it every 2 s while the page stays open), changes the text on Compose until its
estimate shows, and opens Operations until its six charts are drawn. A pause of about THINK seconds
separates the steps. After the timed phase every tab closes, and WAVES waves of as many new tabs
sign in, look at a few pages and close, to see whether memory follows the sessions opened or stays
bounded. Run once against one dashboard process and once against two behind HAProxy
(`bench/proxy.py`), which share sign-ins through Redis.

Figures: seconds from each action (a click, a key, a link opened) to its result on the screen (the
row count, the estimate, the drawn charts: what the person waits for), as p50, p95 and max; the
dashboard processes' resident memory with their children; PostgreSQL connections on the database at
their peak (sampled every 0.25 s from `pg_stat_activity`); and errors: exceptions drawn on a page,
HTTP answers of 400 and up, script errors in the page, actions that timed out (ACTION_TIMEOUT).

The client: one headless Chromium with a context per session (contexts share the browser process;
each page still has its renderer), driven by Playwright's async API from one event loop, so one
Playwright driver serves them all. That is what a person sees: a rerun is not finished for them
until the browser has applied the deltas and drawn the table or the charts. Tried first, with 5
sessions for 30 s (2 cores, other work running): Chromium took about as much CPU as the dashboard
(the benchmark prints both, so a run shows how much of the machine the client took). Streamlit's
own websocket protocol (BackMsg/ForwardMsg protobufs) would be lighter, but its widgets are
addressed by ids the server derives from each element, the library's table arrives as Arrow and the
charts as Vega specs that nothing would draw: it would time "the script finished", not what a
person waits for. The tests' synchronous helpers (`tests/live.py` `sign_in`, `choose`) cannot share
one browser among concurrent sessions, so the few steps they take are written here with `await`.

Sizes are environment variables, so a short run is possible:
`LOAD_SESSIONS=5 LOAD_SECONDS=30 LOAD_WAVES=2 LOAD_SETTLE_SECONDS=0 make bench BENCH=dashboard-load`.
The full run is the defaults (25 sessions, 300 s, both process counts, about 25 minutes on 2 cores).
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import psutil
import psycopg
from playwright.async_api import Browser, BrowserContext, Page, Response, async_playwright, expect
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout
from redis import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.library_page import LARGE, fill
from bench.proxy import STICKY_COOKIE, haproxy
from db.engine import new_session, reset_engine
from db.library import Filters, page
from db.models import Status
from db.users import create_user
from tests.live import CHARTS, CHROMIUM_ARGS, chromium_path, dashboard
from workers.service.sessions import COOKIE

SESSIONS = int(os.environ.get("LOAD_SESSIONS", "25"))
SECONDS = float(os.environ.get("LOAD_SECONDS", "300"))
PROCESSES = [int(n) for n in os.environ.get("LOAD_PROCESSES", "1,2").split(",")]
WAVES = int(os.environ.get("LOAD_WAVES", "3"))
SETTLE_SECONDS = float(os.environ.get("LOAD_SETTLE_SECONDS", "150"))
"""Wait after the last wave: Streamlit keeps a closed tab's session for `server.disconnectedSessionTTL`
(120 s) in case it reconnects, so only after that must the memory of closed sessions be given back."""
THINK = 2.0
ACTION_TIMEOUT = 30_000  # ms: an action whose result has not shown by then counts as an error
STAY_ON_CARD = 6.0  # s on a narration page: three polls of its live card
PASSWORD = secrets.token_urlsafe(24)  # throwaway accounts in a throwaway database
MB = 1024 * 1024
SIGN_IN = "sign in"
_BASE_PROBES = ("/_stcore/health", "/_stcore/host-config")
"""Opened at /narration?…, Streamlit's page first asks /narration/_stcore/… in case the app is served
under that path, and takes the 404 as "no": part of every deep link, not an error anyone sees."""
_PAUSES = random.Random(14)  # noqa: S311 - pauses, not security; the same every run


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
    """What the pages must show, read before the run: the row counts and the rows with live cards."""

    total: int
    failed: int
    live_rows: list[int]


# Waiting scene narrations, one per session: their cards poll as long as their page is open (no
# worker runs, so they stay queued).
_QUEUED = """
INSERT INTO tts_sceneaudio (prompt, image_id, created_at, updated_at, provider, status, task_id)
SELECT 'Waiting scene ' || i || '. ' || repeat('A calm sentence. ', 10), 1 + i % 7, now(), now(), 'local', 'queued',
       'nd-load-' || i
FROM generate_series(1, CAST(:count AS integer)) AS i
RETURNING id
"""


def _prepare(sessions: int) -> Library:
    """The 100,000-row library, one waiting narration per session, and one staff account per session."""
    with new_session() as session:
        owner = create_user(session, username="owner", password=PASSWORD).id
        for n in range(sessions):
            create_user(session, username=f"load{n}", password=PASSWORD)
        session.commit()
    fill(1, LARGE, owner)
    with new_session() as session:
        live_rows = list(session.execute(text(_QUEUED), {"count": sessions}).scalars())
        session.commit()
        total = page(session, Filters(), size=1)[1]
        failed = page(session, Filters(status=Status.FAILED), size=1)[1]
    reset_engine()  # this process holds no connection while the dashboards' are counted
    return Library(total, failed, live_rows)


def _tree(pid: int) -> list[psutil.Process]:
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def _rss(pids: list[int]) -> float:
    """Resident memory of the dashboard processes and their children, in MB."""
    return float(sum(p.memory_info().rss for pid in pids for p in _tree(pid))) / MB


def _cpu(processes: list[psutil.Process]) -> float:
    seconds = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds += times.user + times.system
    return seconds


def _dashboard_pid(url: str) -> int:
    """The `streamlit run` child serving this URL."""
    port = str(urlsplit(url).port)
    for child in psutil.Process().children(recursive=True):
        command = child.cmdline()
        if "streamlit" in " ".join(command) and port in command:
            return int(child.pid)
    raise AssertionError(f"no streamlit process serves {url}")


@dataclass
class Sampler:
    """PostgreSQL connections on the benchmark's database, sampled in a thread; the peak is kept."""

    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    @contextmanager
    def running(self) -> Iterator[Sampler]:
        url = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql").render_as_string(hide_password=False)
        connection = psycopg.connect(url, autocommit=True)
        thread = threading.Thread(target=self._sample, args=(connection,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            connection.close()

    def _sample(self, connection: psycopg.Connection[tuple[int]]) -> None:
        query = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        while not self._stop.wait(0.25):
            row = connection.execute(query).fetchone()
            self.peak = max(self.peak, row[0] if row else 0)


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


async def _open(browser: Browser, url: str, n: int, tally: Tally) -> tuple[BrowserContext, Page] | None:
    context = await browser.new_context(viewport={"width": 1280, "height": 1200})
    tab = await context.new_page()
    tally.watch(tab)
    if not await tally.timed(SIGN_IN, tab, lambda: _sign_in(tab, url, f"load{n}")):
        await context.close()
        return None
    return context, tab


async def _tour_until(tour: Tour, deadline: float) -> None:
    steps = [tour.library_page, tour.filters, tour.live_card, tour.compose_estimate, tour.operations]
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
            await asyncio.sleep(THINK * _PAUSES.uniform(0.5, 1.5))


async def _wave(browser: Browser, url: str, sessions: int, library: Library, tally: Tally) -> None:
    """Sessions that sign in, open three pages and close."""

    async def one(n: int) -> None:
        opened = await _open(browser, url, n, tally)
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


def _stats(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, ordered[-1]


Check = Callable[[Browser], Awaitable[dict[str, float]]]


async def _load(url: str, pids: list[int], library: Library, check: Check) -> dict[str, float]:
    """The timed phase, then the waves; the figures of one setup."""
    tally = Tally()
    figures: dict[str, float] = {"memory before sign-in (MB)": _rss(pids)}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        figures |= await check(browser)
        with Sampler().running() as sampler:
            opened = [o for o in await asyncio.gather(*(_open(browser, url, n, tally) for n in range(SESSIONS))) if o]
            figures["sessions signed in"] = len(opened)
            figures |= await _sticky(opened)
            figures["memory after sign-in (MB)"] = _rss(pids)
            servers = [p for pid in pids for p in _tree(pid)]
            clients = [p for p in psutil.Process().children(recursive=True) if p not in servers]
            cpu_before = _cpu(servers), _cpu(clients)
            started = time.monotonic()
            deadline = started + SECONDS

            async def middle() -> None:
                await asyncio.sleep(SECONDS / 2)
                figures["memory at the middle (MB)"] = _rss(pids)

            tours = [_tour_until(Tour(tab, url, n, library, tally), deadline) for n, (_, tab) in enumerate(opened)]
            await asyncio.gather(middle(), *tours)
            elapsed = time.monotonic() - started
            figures["memory at the end (MB)"] = _rss(pids)
            figures["dashboard CPU, cores busy"] = (_cpu(servers) - cpu_before[0]) / elapsed
            figures["browser and driver CPU, cores busy (approx.)"] = (_cpu(clients) - cpu_before[1]) / elapsed
            figures["machine load average (1 min) at the end"] = os.getloadavg()[0]
            for context, _ in opened:
                await context.close()
            for wave in range(1, WAVES + 1):
                await _wave(browser, url, SESSIONS, library, tally)
                await asyncio.sleep(2)
                figures[f"memory after wave {wave} of {SESSIONS} sessions opened and closed (MB)"] = _rss(pids)
            if SETTLE_SECONDS:
                await asyncio.sleep(SETTLE_SECONDS)
                figures[f"memory {SETTLE_SECONDS:.0f} s later (MB)"] = _rss(pids)
            figures["PostgreSQL connections, peak"] = sampler.peak
        await browser.close()
    return _timings(tally) | figures | _errors(tally)


async def _sticky(opened: list[tuple[BrowserContext, Page]]) -> dict[str, float]:
    """Behind the proxy: how many sessions each dashboard took (from the proxy's sticky cookie)."""
    servers: Counter[str] = Counter()
    for context, _ in opened:
        servers.update(c["value"] for c in await context.cookies() if c["name"] == STICKY_COOKIE)
    return {f"sessions on dashboard {name}": float(count) for name, count in sorted(servers.items())}


def _timings(tally: Tally) -> dict[str, float]:
    figures: dict[str, float] = {}
    everything = [t for name, values in tally.times.items() if name != SIGN_IN for t in values]
    for name, values in [("every action but sign-in", everything), *sorted(tally.times.items())]:
        if values:
            p50, p95, most = _stats(values)
            figures |= {
                f"{name}: count": len(values),
                f"{name}: p50 (s)": p50,
                f"{name}: p95 (s, goal < 1)": p95,
                f"{name}: max (s)": most,
            }
    return figures


def _errors(tally: Tally) -> dict[str, float]:
    for example in tally.examples:
        print(f"  error {example}", file=sys.stderr)
    kinds = ("exception", "http", "script", "timeout", "browser")
    figures: dict[str, float] = {"errors (goal 0)": sum(tally.errors.values())}
    return figures | {f"errors: {kind}": tally.errors[kind] for kind in kinds}


async def _no_check(browser: Browser) -> dict[str, float]:
    return {}


def _shared_sign_in(direct: list[str], proxied: str) -> Check:
    """A sign-in made through the proxy (on whichever dashboard it picked) is resumed by the other one."""

    async def check(browser: Browser) -> dict[str, float]:
        tally = Tally()
        opened = await _open(browser, proxied, 0, tally)
        if opened is None:
            return {"sign-in through the proxy reaches the other dashboard (1 = yes)": 0.0}
        context, _ = opened
        picked = next(c["value"] for c in await context.cookies() if c["name"] == STICKY_COOKIE)
        other = direct[1] if picked == "d1" else direct[0]
        tab = await context.new_page()
        await tab.goto(other)  # the browser sends the same session cookie: cookies are per host, not port
        reached = await tab.get_by_text("Signed in as load0").is_visible() or await tally.timed(
            "resumed", tab, lambda: expect(tab.get_by_text("Signed in as load0")).to_be_visible(timeout=ACTION_TIMEOUT)
        )
        await context.close()
        return {"sign-in through the proxy reaches the other dashboard (1 = yes)": float(reached)}

    return check


def run(connection: Redis) -> dict[str, float]:
    library = _prepare(SESSIONS)
    results: dict[str, float] = {
        "sessions": SESSIONS,
        "seconds of load": SECONDS,
        "narrations in the library": library.total,
    }
    for count in PROCESSES:
        with ExitStack() as stack:
            direct = [stack.enter_context(dashboard()) for _ in range(count)]
            pids = [_dashboard_pid(url) for url in direct]
            check: Check = _no_check
            url = direct[0]
            if count > 1:
                url = stack.enter_context(haproxy(direct))
                check = _shared_sign_in(direct, url)
            figures = asyncio.run(_load(url, pids, library, check))
        results |= {f"{count} dashboard{'s' if count > 1 else ''}: {label}": value for label, value in figures.items()}
    return results
