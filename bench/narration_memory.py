"""The dashboard's memory opening a one-hour narration, playing it past the preview and downloading it.

Before the audio route the card read the whole file into the dashboard on every render (a one-hour
WAV is ~170 MB, per render, per session); now the page names the route and the browser streams the
file from it. One dashboard process and one browser in one run: the baseline is the same page of a
five-second narration, and the figure is how much more the process holds (RSS) after the one-hour
page was opened three times, played from past the preview's end, and downloaded in full; then how
much more after a three-hour file (over 500 MB) is downloaded through the same route.
"""

from __future__ import annotations

import base64
import io
import secrets

import httpx
import numpy as np
import psutil
import soundfile
from playwright.sync_api import Page, expect
from redis import Redis
from sqlalchemy import update

from db.engine import new_session
from db.models import StoryAudio
from db.settings import get_settings
from db.users import create_user
from tests.live import dashboard, headless_chromium, session_cookie, sign_in
from workers.service.sessions import COOKIE
from workers.service.submit import Request, submit

RATE = 24_000  # what OpenAI's WAV holds: an hour is 172.8 MB
HOUR = 3600
PASSWORD = secrets.token_urlsafe(24)  # a throwaway account in a throwaway database
MB = 1024 * 1024


def _wav(seconds: int) -> bytes:
    """A quiet tone, written a minute at a time (the point is the file's size, not its sound)."""
    out = io.BytesIO()
    minute = (np.sin(np.arange(60 * RATE) * 0.05) * 3000).astype(np.int16)
    with soundfile.SoundFile(out, "w", RATE, 1, format="WAV", subtype="PCM_16") as wav:
        for start in range(0, seconds, 60):
            wav.write(minute[: min(60, seconds - start) * RATE])
    return out.getvalue()


def _narration(story_id: int, seconds: int) -> int:
    """A completed story narration of `seconds`, as a worker leaves it: the file and a 20 s preview."""
    row_id = submit(Request(kind="story", target_id=story_id, prompt="The lighthouse cat.", provider="local",
                            model="piper:en_US-joe-medium", voice="joe")).row_id  # fmt: skip
    stored = f"tts/story/bench-{row_id}.wav"
    path = get_settings().media_path / stored
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_wav(seconds))
    preview = base64.b64encode(_wav(min(seconds, 20))).decode()
    metadata = {"format": "wav", "preview_seconds": min(seconds, 20), "preview_truncated": seconds > 20}
    with new_session() as session, session.begin():
        session.execute(
            update(StoryAudio).where(StoryAudio.id == row_id).values(
                status="completed", audio_file=stored, duration_seconds=float(seconds), base64_audio=preview,
                audio_metadata=metadata,
            )
        )  # fmt: skip
    return row_id


def _dashboard_rss() -> float:
    """The `streamlit run` child's resident memory, in MB."""
    (process,) = [
        child for child in psutil.Process().children(recursive=True) if "streamlit" in " ".join(child.cmdline())
    ]
    return float(process.memory_info().rss) / MB


def _open(page: Page, url: str, row_id: int, *, play_from: float | None = None) -> None:
    page.goto(f"{url}/narration?kind=story&id={row_id}")
    expect(page.get_by_role("link", name="Download the full file")).to_be_visible(timeout=60_000)
    if play_from is None:
        return
    selector = f"audio[src$='/narration-desk/audio/story/{row_id}']"
    page.evaluate(
        "([selector, at]) => { const a = document.querySelector(selector); a.muted = true; a.currentTime = at;"
        " return a.play(); }",
        [selector, play_from],
    )
    page.wait_for_function(
        "([selector, at]) => { const a = document.querySelector(selector);"
        " return a.readyState >= 3 && a.currentTime > at + 0.5; }",
        arg=[selector, play_from],
        timeout=60_000,
    )


def _download(url: str, row_id: int, token: str) -> int:
    """Save the file through the route as a browser does, a piece at a time; its size in bytes."""
    size = 0
    with httpx.stream(
        "GET", f"{url}/narration-desk/audio/story/{row_id}?download=1", cookies={COOKIE: token}, timeout=120
    ) as answer:
        answer.raise_for_status()
        for piece in answer.iter_bytes():
            size += len(piece)
    return size


def run(connection: Redis) -> dict[str, float]:
    with new_session() as session:
        create_user(session, username="bench", password=PASSWORD)
        session.commit()
    short, hour, long = _narration(1, 5), _narration(2, HOUR), _narration(3, 3 * HOUR)
    size = (get_settings().media_path / f"tts/story/bench-{hour}.wav").stat().st_size / MB
    with headless_chromium() as browser, dashboard() as url:
        page = browser.new_page()
        sign_in(page, url, "bench", PASSWORD)
        for _ in range(3):  # warm: the page's modules and caches are loaded before the baseline
            _open(page, url, short, play_from=1)
        baseline = _dashboard_rss()
        for _ in range(3):
            _open(page, url, hour)
        _open(page, url, hour, play_from=HOUR - 60)  # far past the 20 s preview
        token = str(session_cookie(page)["value"])
        downloaded = _download(url, hour, token) / MB
        after = _dashboard_rss()
        big = _download(url, long, token) / MB
        after_big = _dashboard_rss()
    return {
        "one-hour WAV (MB)": size,
        "downloaded through the route (MB)": downloaded,
        "dashboard RSS after the 5 s narration's page (MB)": baseline,
        "dashboard RSS after the one-hour page x4, play and download (MB)": after,
        "growth (MB, goal < 20)": after - baseline,
        "growth / file size (the old card held 1.0 per render)": (after - baseline) / size,
        "three-hour WAV downloaded through the route (MB)": big,
        "dashboard RSS growth over that download (MB; streamed: ~0)": after_big - after,
    }
