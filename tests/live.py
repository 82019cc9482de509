"""Real processes for tests: a worker and a `streamlit run` dashboard on a free port.

As in Streamlit's and Datasette's own suites, the dashboard is started for real, polled on
`/_stcore/health`, and its output is printed if it does not come up.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from dashboard.library_table import COLUMNS, ROW_HEIGHT
from workers.operations.run import stop_child
from workers.service.sessions import COOKIE

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(port: int) -> bool:
    """Whether a Streamlit server answers its health check on this port."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
            return bool(response.read() == b"ok")
    except OSError:
        return False


def wait_healthy(port: int, process: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 60) -> bool:
    """Poll the health check until it answers; False if the process died or time ran out."""
    deadline = time.monotonic() + timeout
    while not healthy(port):
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def chromium_path() -> str:
    """Debian's chromium-headless-shell (installed by scripts/test-deps.sh), else its full chromium;
    the tests skip without either."""
    found = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if not found:
        pytest.skip("Debian's chromium-headless-shell is not installed (scripts/test-deps.sh installs it as root)")
    return found


@contextmanager
def worker() -> Iterator[subprocess.Popen[bytes]]:
    """`narration-desk worker` with the test's environment, stopped (warm) afterwards.

    Killed if the warm stop takes more than 30 s (a job mid-passage on a loaded machine): a worker
    left running would take the next tests' jobs from the shared Redis database and fail them all."""
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "worker"], cwd=ROOT, env=os.environ.copy(), stderr=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        stop_child(process, grace=30)


@contextmanager
def dashboard() -> Iterator[str]:
    """`streamlit run dashboard/server.py` with the test's environment; yields its base URL."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "server.py"),
                "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
                "--browser.gatherUsageStats", "false",
            ],
            cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            if not wait_healthy(port, process):
                log.seek(0)
                raise AssertionError("the dashboard did not start:\n" + log.read().decode(errors="replace"))
            yield url
        finally:
            stop_child(process)  # as `narration-desk run` does: a browser tab left open can stall the graceful stop


class Commands:
    """Commands run as child processes, from the repository root with the test's environment and
    their output kept as text. Handed out by the `commands` fixture, so that a test running one is
    marked slow (tests/conftest.py); elsewhere starting a process fails the test."""

    def run(
        self, command: Sequence[str], *, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run `command` to its end; its exit code is the caller's to check."""
        return subprocess.run(
            list(command), cwd=ROOT, env=os.environ.copy(), input=input, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip

    def start(self, command: Sequence[str], *, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        """Start `command` (stdout and stderr together, as text); stopping it is the caller's."""
        return subprocess.Popen(
            list(command), cwd=ROOT, env=dict(os.environ if env is None else env), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip


WorkerStarter = Callable[[], AbstractContextManager[subprocess.Popen[bytes]]]
DashboardStarter = Callable[[], AbstractContextManager[str]]
"""What the `worker` and `dashboard` fixtures hand a test: the functions above, requested as fixtures
so that tests starting them are marked slow (tests/conftest.py)."""


def screenshot(page: Page, name: str) -> None:
    """With SCREENSHOTS=<folder> (e.g. docs), keep what the page looked like for the README."""
    folder = os.environ.get("SCREENSHOTS")
    if folder:
        page.wait_for_timeout(500)  # let Streamlit's transitions settle
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@contextmanager
def headless_chromium() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright (no browser download)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def sign_in(page: Page, url: str, username: str, password: str = "a long enough secret") -> None:
    page.goto(url)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible(timeout=30_000)
    session_cookie(page)  # as a person would, go on once the browser holds the sign-in


def settled(page: Page, timeout: float = 30_000) -> None:
    """Wait until the script run in progress (Streamlit's "Running..." icon) has ended. A button
    clicked while a page switch is still drawing the page can be lost with the element it hit (seen
    in CI under load); a person sees the page finish and clicks then, and so does a test."""
    expect(page.get_by_test_id("stStatusWidgetRunningIcon")).to_have_count(0, timeout=timeout)


def session_cookie(page: Page, timeout: float = 30) -> dict[str, Any]:
    """The browser's session cookie, once the page's sign-in frame has set it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for cookie in page.context.cookies():
            if cookie["name"] == COOKIE:
                return dict(cookie)
        page.wait_for_timeout(100)
    raise AssertionError("the sign-in never reached the browser as a cookie")


def click_cell(page: Page, row: int, column: str) -> None:
    """Click a cell of the library's table (drawn on a canvas) by its position: row 0 is the first
    below the header; the columns have the widths dashboard.library_table gives them."""
    box = page.locator("[data-testid='stDataFrame']").bounding_box()
    assert box is not None
    widths = [config["width"] for config in COLUMNS.values()]
    at = list(COLUMNS).index(column)
    x = box["x"] + sum(widths[:at]) + widths[at] / 2
    y = box["y"] + ROW_HEIGHT * (row + 1) + ROW_HEIGHT / 2
    page.mouse.click(x, y)


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the Streamlit selectbox labelled `label`."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()


CHARTS = 6  # jobs by status, by provider, failure rate, latency, cost per day, audio hours
COMPLETED_GREEN = (0x2E, 0x7D, 0x32)  # dashboard.charts.STATUS_COLOURS["completed"]

# Every `.vega-embed` on the page: the size of its drawing and what is drawn in it. Streamlit draws
# Vega as SVG: `marks` counts the data marks (bars, lines, points; not axes or legends) and
# `coloured` those filled with the given colour. Were it a canvas, `painted` counts its drawn pixels
# and `coloured` those of that colour (give or take antialiasing).
_MEASURE = """([r, g, b]) => [...document.querySelectorAll('.vega-embed')].map((embed) => {
  const drawing = embed.querySelector('canvas, svg');
  if (!drawing) return {width: 0, height: 0, painted: 0, coloured: 0, marks: 0};
  const box = drawing.getBoundingClientRect();
  const found = {width: box.width, height: box.height, painted: 0, coloured: 0, marks: 0};
  if (drawing.tagName.toLowerCase() === 'svg') {
    const marks = [...drawing.querySelectorAll('g.role-mark path')];
    const hex = '#' + [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('');
    found.marks = marks.length;
    found.coloured = marks.filter((m) => (m.getAttribute('fill') || '').toLowerCase() === hex).length;
    return found;
  }
  const pixels = drawing.getContext('2d').getImageData(0, 0, drawing.width, drawing.height).data;
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i + 3] === 0) continue;
    found.painted += 1;
    if (Math.abs(pixels[i] - r) < 8 && Math.abs(pixels[i + 1] - g) < 8 && Math.abs(pixels[i + 2] - b) < 8) {
      found.coloured += 1;
    }
  }
  return found;
})"""


def charts_drawn(page: Page, count: int = CHARTS, timeout: float = 60_000) -> list[dict[str, Any]]:
    """Wait until `count` Vega charts are drawn on the page; their measurements, in page order."""
    expect(page.locator(".vega-embed canvas, .vega-embed svg")).to_have_count(count, timeout=timeout)
    page.wait_for_function(
        "(n) => [...document.querySelectorAll('.vega-embed canvas, .vega-embed svg')]"
        ".filter((c) => c.getBoundingClientRect().width > 0).length >= n",
        arg=count,
        timeout=timeout,
    )
    page.wait_for_timeout(500)  # Vega paints after the element has its size
    measured: list[dict[str, Any]] = page.evaluate(_MEASURE, list(COMPLETED_GREEN))
    return measured
