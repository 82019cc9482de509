"""HAProxy in front of several dashboards, as the README's production section shows it.

A Streamlit session lives on one process: its websocket, and the media (`/media/...`) the script's
run put in that process's memory, so every request of one browser must reach the same process.
Balancing by client address (nginx `ip_hash`, HAProxy `balance source`) would send every user
behind one NAT, and every session of a benchmark on 127.0.0.1, to one process; so new browsers are
spread round-robin and kept on their process by a cookie the proxy inserts (`nd_dashboard`); a
browser whose process is down goes to another (`option redispatch`). Sign-ins need no stickiness:
they live in Redis and any dashboard resumes them.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from tests.live import free_port
from workers.operations.run import stop_child

STICKY_COOKIE = "nd_dashboard"

CONFIG = """\
global
    maxconn 4096
defaults
    mode http
    option forwardfor
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
frontend narration_desk
    bind 127.0.0.1:{port}
    default_backend dashboards
backend dashboards
    balance roundrobin
    cookie {cookie} insert indirect nocache httponly
    option redispatch
    option httpchk GET /_stcore/health
{servers}
"""


def config(port: int, dashboards: Sequence[str]) -> str:
    """The HAProxy configuration for dashboards at these base URLs, listening on `port`."""
    servers = "\n".join(
        f"    server d{n} {urlsplit(url).netloc} check cookie d{n}" for n, url in enumerate(dashboards, start=1)
    )
    return CONFIG.format(port=port, cookie=STICKY_COOKIE, servers=servers)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def haproxy_binary() -> str:
    """Debian's `haproxy`, or SystemExit saying how to install it: a run that needs it asks first,
    not after the half hour it spent on one dashboard (whose figures were then lost)."""
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        raise SystemExit("Two dashboards need a reverse proxy: install Debian's haproxy (apt-get install haproxy).")
    return binary


@contextmanager
def haproxy(dashboards: Sequence[str]) -> Iterator[str]:
    """Debian's `haproxy` in the foreground before the dashboards; yields its URL."""
    binary = haproxy_binary()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="nd-proxy-") as folder:
        path = Path(folder) / "haproxy.cfg"
        path.write_text(config(port, dashboards))
        process = subprocess.Popen([binary, "-db", "-f", str(path)], stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while not _listening(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"haproxy did not start (exit {process.poll()})")
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_child(process)
