"""`narration-desk run` itself, on the embedded servers: up, narrates, stops cleanly, keeps data.

This is the path a new user takes with nothing installed (no DATABASE_URL, no REDIS_URL, no key).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from sqlalchemy import create_engine, text

from db.passwords import check_password
from tests.live import Commands, free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[1]


class Run:
    """A running `narration-desk run`, with its output collected line by line."""

    def __init__(self, commands: Commands, data_dir: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT")}
        env.update(DATA_DIR=str(data_dir), DASHBOARD_PORT=str(port), RECONCILE_INTERVAL_SECONDS="1")
        self.process = commands.start([sys.executable, "-m", "workers.cli", "run"], env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 90) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.process.poll() is None, "run exited early:\n" + "".join(self.output)
                continue
            self.output.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no line matched {pattern!r}:\n" + "".join(self.output))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)


@contextmanager
def running(commands: Commands, data_dir: Path, port: int) -> Iterator[tuple[Run, str]]:
    run = Run(commands, data_dir, port)
    try:
        database = run.wait_for(r"Embedded PostgreSQL: (\S+)").group(1)
        run.wait_for(rf"Narration Desk is running: http://localhost:{port}")
        yield run, database
    finally:
        if run.process.poll() is None:
            run.stop()


def _leftovers(data_dir: Path) -> list[str]:
    """Processes still running from this data folder (postgres, redis-server)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(data_dir) in cmdline:
            found.append(cmdline)
    return found


def test_run_starts_everything_narrates_stops_cleanly_and_keeps_data(tmp_path: Path, commands: Commands) -> None:
    data_dir = tmp_path / "var"
    port = free_port()

    with running(commands, data_dir, port) as (run, database):
        assert wait_healthy(port, run.process)
        password_file = data_dir / "initial-admin-password"
        assert password_file.stat().st_mode & 0o777 == 0o600
        assert password_file.read_text().strip() not in "".join(run.output)  # never on the console
        engine = create_engine(database)
        with engine.begin() as connection:
            assert connection.execute(text("SELECT count(*) FROM story_story")).scalar_one() == 3
            admin = connection.execute(text("SELECT password FROM auth_user WHERE username = 'admin'")).scalar_one()
            assert check_password(password_file.read_text().strip(), admin)
            row_id = connection.execute(
                text(
                    "INSERT INTO tts_sceneaudio (prompt, provider, status, created_at, updated_at, image_id) "
                    "VALUES ('The bells rang out over the square.', 'local', 'queued', now(), now(), 4) "
                    "RETURNING id"
                )
            ).scalar_one()
        deadline = time.monotonic() + 60
        status = "queued"
        while status != "completed" and time.monotonic() < deadline:
            time.sleep(0.5)
            with engine.connect() as connection:
                status, audio_file = connection.execute(
                    text("SELECT status, audio_file FROM tts_sceneaudio WHERE id = :id"), {"id": row_id}
                ).one()
        engine.dispose()
        assert status == "completed"
        assert (data_dir / "media" / audio_file).is_file()
        assert run.stop() == 0

    assert _leftovers(data_dir) == []

    with running(commands, data_dir, port) as (run, database):
        engine = create_engine(database)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM story_story")).scalar_one() == 3  # not re-seeded
            assert (
                connection.execute(
                    text("SELECT status FROM tts_sceneaudio WHERE id = :id"), {"id": row_id}
                ).scalar_one()
                == "completed"
            )
        engine.dispose()
        assert run.stop() == 0
    assert _leftovers(data_dir) == []
