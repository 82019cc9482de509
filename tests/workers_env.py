"""Running real worker processes against the fake providers, and watching rows from the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from db.engine import new_session
from db.models import SceneAudio, StoryAudio
from db.settings import get_settings
from tests.factories import demo_data
from tests.fake_providers import FakeProviders
from workers.engine.jobs import synthesize
from workers.engine.providers import registry
from workers.service.submit import Request, submit

ROOT = Path(__file__).resolve().parents[1]

FAST = {
    "RECONCILE_INTERVAL_SECONDS": "1",
    "WORKER_DEAD_AFTER_SECONDS": "5",
    "RETRY_BASE_SECONDS": "1",
    "PROVIDER_TIMEOUT_SECONDS": "5",
}
"""Settings that make recovery fast enough to test; production defaults are in the README."""

LOCAL_VOICE = pytest.mark.xdist_group("local_speech")
"""For tests where the local voice really synthesizes: they run one after another on one xdist
worker (`--dist loadgroup`). There `tests/test_qc.py`'s `local_speech` (a session fixture) is
synthesized once a run, not once on every worker that draws one of them, and two syntheses never
share the cores while the other xdist workers run tests that mostly wait on processes."""


@contextmanager
def providers_on(fake: FakeProviders, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviders]:
    """Point OpenAI and ElevenLabs (keys and base URLs) at the fake, for this process and its children."""
    monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_base_url)
    monkeypatch.setenv("ELEVENLABS_API_KEY", fake.api_key)
    monkeypatch.setenv("ELEVENLABS_BASE_URL", fake.elevenlabs_base_url)
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    registry.get.cache_clear()
    yield fake
    registry.get.cache_clear()


def narrated_by_fake(text: str, monkeypatch: pytest.MonkeyPatch, *, seconds_per_char: float) -> int:
    """The demo data, and the first story narrated from `text` by the fake OpenAI (tts-1, nova),
    synthesized to the end as a worker would; the narration's row id."""
    demo_data()
    with FakeProviders(seconds_per_char=seconds_per_char) as fake, providers_on(fake, monkeypatch):
        story = Request(kind="story", target_id=1, prompt=text, provider="openai", model="tts-1", voice="nova")
        row_id = submit(story).row_id
        assert "completed" in synthesize("story", row_id)
    return row_id


class Workers:
    """Worker processes started for one test; all are stopped (killed if need be) at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, **env: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"worker-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "worker"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker-*.log")))

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def workers(tmp_path: Path) -> Iterator[Workers]:
    folder = tmp_path / "worker-logs"
    folder.mkdir(exist_ok=True)
    running = Workers(folder)
    try:
        yield running
    finally:
        running.stop_all()


WorkersStarter = Callable[[Path], AbstractContextManager[Workers]]
"""What the `workers` fixture hands a test: `workers` above, as a fixture so the test is marked slow."""


def statuses(kind: str, ids: list[int]) -> dict[int, str]:
    model = StoryAudio if kind == "story" else SceneAudio
    with new_session() as session:
        rows = session.query(model.id, model.status).filter(model.id.in_(ids)).all()
        return {row_id: status for row_id, status in rows}


def wait_until(check: Callable[[], Any], *, timeout: float, every: float = 0.25, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def all_finished(kind: str, ids: list[int]) -> bool:
    return all(status in ("completed", "failed") for status in statuses(kind, ids).values())
