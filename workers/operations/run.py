"""`narration-desk run`: everything for one machine, started and stopped by one command.

Starts the embedded PostgreSQL and Redis unless DATABASE_URL / REDIS_URL name servers, upgrades
the schema, seeds the demo once, then runs one worker and the dashboard as child processes. Ctrl-C
(or SIGTERM) stops the children first, then the servers, so nothing is left running.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from importlib.util import find_spec
from pathlib import Path
from types import FrameType

from sqlalchemy.orm import Session

from db.engine import new_session, reset_engine
from db.seed import seed_demo
from db.settings import get_settings
from db.upgrade import upgrade
from db.users import create_user, has_staff
from workers.operations.embedded import start_postgres, start_redis
from workers.operations.startup import load_settings, ping_postgres, ping_redis
from workers.redis_connection import reset_redis

WORKER_RESTART_DELAY = 2.0


class _Stop(Exception):
    """Raised from the signal handler to unwind the supervisor loop."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def dashboard_entry() -> Path:
    """What `streamlit run` starts (the dashboard and its session route), found without importing
    the dashboard (it sits above us)."""
    spec = find_spec("dashboard")
    assert spec is not None and spec.submodule_search_locations, "the dashboard package is not installed"
    return Path(next(iter(spec.submodule_search_locations))) / "server.py"


class AdminPasswordFileExists(RuntimeError):
    """The initial admin password file (or a symlink) is already there; nothing was written."""


def create_first_admin(session: Session, data_dir: Path) -> Path:
    """A superuser for a database nobody can sign in to yet. The password goes to a file only
    its owner can read, never to the console or a log.

    The file is created exclusively and never through a symlink: anyone able to plant a link at
    that path could otherwise have the password written (or a file clobbered) wherever it points.
    It is created before the account, so a refusal leaves no account whose password nobody knows."""
    path = data_dir.resolve() / "initial-admin-password"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise AdminPasswordFileExists(
            f"{path} already exists (a file or a link), so no admin account was created and nothing was written "
            "there. Remove it and restart, or create an account with `narration-desk create-user NAME --superuser`."
        ) from None
    password = secrets.token_urlsafe(18)
    with os.fdopen(fd, "w") as file:
        file.write(password + "\n")
    try:
        create_user(session, username="admin", password=password, superuser=True)
    except BaseException:
        path.unlink()  # ours (created exclusively above), and now naming no account
        raise
    return path


def stop_child(process: subprocess.Popen[bytes], grace: float = 15) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds. Streamlit's server (uvicorn) waits without a
    limit for open browser connections to close, so a graceful stop alone can hang."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _stop_children(children: dict[str, subprocess.Popen[bytes]]) -> None:
    """The dashboard first (no new submissions), then the worker, which finishes its current job."""
    for name in ("dashboard", "worker"):
        if name in children:
            stop_child(children[name])


def run() -> int:
    """Supervise servers, worker and dashboard until interrupted; returns the exit code.

    Servers named by DATABASE_URL / REDIS_URL are pinged first: one that does not answer stops the
    start with a sentence (StartupRefused) before anything is started."""
    settings = load_settings()
    if settings.database_url:
        ping_postgres(settings.database_url)
    if settings.redis_url:
        ping_redis(settings.redis_url)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    with ExitStack() as stack:
        try:
            if not settings.database_url:
                postgres = start_postgres(settings.data_dir)
                stack.callback(postgres.stop)
                os.environ["DATABASE_URL"] = postgres.url
                print(f"Embedded PostgreSQL: {postgres.url} (data in {settings.data_dir.resolve()})", flush=True)
            if not settings.redis_url:
                redis_server = start_redis(settings.data_dir)
                stack.callback(redis_server.stop)
                os.environ["REDIS_URL"] = redis_server.url
                print(f"Embedded Redis: {redis_server.url}", flush=True)
            os.environ.setdefault("MEDIA_ROOT", str(settings.media_path))
            get_settings.cache_clear()
            reset_engine()
            reset_redis()

            report = upgrade()
            print(f"Schema at revision {report.after} (was {report.before or 'unversioned'}).", flush=True)
            with new_session() as session:
                if seed_demo(session):
                    print("Seeded the demo project, stories and scene images.", flush=True)
                if not has_staff(session):
                    try:
                        path = create_first_admin(session, settings.data_dir)
                    except AdminPasswordFileExists as refused:
                        print(refused, file=sys.stderr, flush=True)
                    else:
                        print(
                            f"Created the user 'admin'; its password is in {path} (readable by you only).", flush=True
                        )

            children: dict[str, subprocess.Popen[bytes]] = {}
            stack.callback(_stop_children, children)
            worker_cmd = [sys.executable, "-m", "workers.cli", "worker"]
            children["worker"] = subprocess.Popen(worker_cmd)
            port = str(get_settings().dashboard_port)
            children["dashboard"] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streamlit",
                    "run",
                    str(dashboard_entry()),
                    "--server.headless",
                    "true",
                    "--server.port",
                    port,
                    "--browser.gatherUsageStats",
                    "false",
                ]
            )
            print(f"\nNarration Desk is running: http://localhost:{port}\nPress Ctrl-C to stop.\n", flush=True)

            while True:
                time.sleep(0.5)
                if children["dashboard"].poll() is not None:
                    print("The dashboard exited; stopping everything.", file=sys.stderr, flush=True)
                    return 1
                if children["worker"].poll() is not None:
                    print("The worker exited; restarting it.", file=sys.stderr, flush=True)
                    time.sleep(WORKER_RESTART_DELAY)
                    children["worker"] = subprocess.Popen(worker_cmd)
        except _Stop as stop:
            print(f"\nStopping ({stop}): dashboard, worker, then the embedded servers.", flush=True)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            return 0
