"""Narration Desk on many simulated hosts: the stores on one, the fake providers on another, workers
and dashboards each on their own (tests/netns.py). Used by tests/test_many_hosts.py and
bench/many_hosts.py.

Every host is started with the environment a machine of its own would have: the stores' and the
provider's addresses on the simulated network, the audio in the bucket (`STORAGE_URL`), and a
MEDIA_ROOT and DATA_DIR of its own, so nothing can pass between hosts through the shared disk
unnoticed. The test's own process reaches PostgreSQL and Redis by their Unix sockets (`console`).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from db.engine import new_session, reset_engine
from db.models import WorkerBeat
from db.settings import SECRETS_FILE_ENV, get_settings
from db.upgrade import upgrade
from tests.factories import demo_data
from tests.netns import Host, Network
from tests.store_host import BUCKET, S3_CREDENTIALS, Stores, start_stores
from tests.workers_env import FAST, wait_until
from workers.redis_connection import reset_redis

ROOT = Path(__file__).resolve().parents[1]
PROVIDER_PORT = 8000
DASHBOARD_PORT = 8501
API_KEY = "test-key"
_BARE = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
_FETCH = """
import base64, json, sys, urllib.error, urllib.request
request = urllib.request.Request(sys.argv[1], headers=json.loads(sys.argv[2]))
try:
    with urllib.request.urlopen(request, timeout=30) as answer:
        status, body = answer.status, answer.read()
except urllib.error.HTTPError as error:
    status, body = error.code, error.read()
print(json.dumps({"status": status, "body": base64.b64encode(body).decode()}))
"""
"""A GET run on a simulated host by the standard library alone, its answer printed as JSON."""


@dataclass
class Cluster:
    """The simulated hosts of one test or benchmark, and how to start more."""

    network: Network
    stores: Stores
    provider: Host
    folder: Path
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def environment(self, host: Host) -> dict[str, str]:
        """What a Narration Desk process on `host` is started with: no key but the fake's, no secrets file."""
        own = self.folder / host.name
        provider = f"http://{self.provider.address}:{PROVIDER_PORT}"
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(own),
            "LANG": "C.UTF-8",
            "DATABASE_URL": self.stores.database_url,
            "REDIS_URL": self.stores.redis_url,
            "STORAGE_URL": f"s3://{BUCKET}/media",
            "AWS_ENDPOINT_URL": self.stores.s3_endpoint,
            **S3_CREDENTIALS,
            "MEDIA_ROOT": str(own / "media"),
            "DATA_DIR": str(own / "var"),
            SECRETS_FILE_ENV: str(own / "no-secrets.toml"),
            "OPENAI_API_KEY": API_KEY,
            "OPENAI_BASE_URL": f"{provider}/v1",
            "ELEVENLABS_API_KEY": API_KEY,
            "ELEVENLABS_BASE_URL": provider,
            **FAST,
        }

    def start_worker(self, name: str, **settings: str) -> Host:
        """A new host running one `narration-desk worker`, with these settings beside the host's."""
        host = self.network.host(name)
        command = [sys.executable, "-m", "workers.cli", "worker"]
        env = {**self.environment(host), **settings}
        self.workers[name] = self.network.start(host, command, env=env, cwd=ROOT, log=f"{name}.log")
        return host

    def stop_workers(self) -> None:
        """Stop every worker started so far, as `docker compose stop` would (SIGTERM, then wait)."""
        for process in self.workers.values():
            if process.poll() is None:
                process.terminate()
        for process in self.workers.values():
            process.wait(timeout=60)
        self.workers.clear()

    def wait_for_workers(self, count: int, timeout: float = 120) -> None:
        """Until `count` workers beat and none has stopped: they are ready to claim."""

        def ready() -> bool:
            with new_session() as session:
                live = session.query(WorkerBeat).filter(WorkerBeat.stopped_at.is_(None)).count()
            return live >= count

        wait_until(ready, timeout=timeout, what=f"{count} workers to beat")

    def start_dashboard(self, name: str) -> Host:
        """A new host running `streamlit run dashboard/server.py` on its address, once it is healthy."""
        host = self.network.host(name)
        command = [
            sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "server.py"),
            "--server.headless", "true", "--server.address", host.address, "--server.port", str(DASHBOARD_PORT),
            "--browser.gatherUsageStats", "false",
        ]  # fmt: skip
        self.network.start(host, command, env=self.environment(host), cwd=ROOT, log=f"{name}.log")
        health = f"http://{host.address}:{DASHBOARD_PORT}/_stcore/health"
        wait_until(lambda: self.fetch(host, health, headers={})[0] == 200, timeout=120, what="the dashboard")
        return host

    def fetch(self, host: Host, url: str, *, headers: dict[str, str]) -> tuple[int, bytes]:
        """GET `url` from `host`: the status (0 when nothing answered) and the body."""
        try:
            out = self.network.run(host, [sys.executable, "-c", _FETCH, url, json.dumps(headers)], env=_BARE)
        except subprocess.CalledProcessError:
            return 0, b""
        answer = json.loads(out)
        return int(answer["status"]), base64.b64decode(answer["body"])

    def calls(self) -> list[dict[str, Any]]:
        """Every request the fake providers received, oldest first (as tests/provider_host.py keeps them)."""
        path = self.folder / "calls.json"
        return list(json.loads(path.read_text())) if path.exists() else []


@contextmanager
def console(stores: Stores) -> Iterator[None]:
    """This process's settings pointed at the stores' Unix sockets, for seeding, submitting, checking,
    with the fake's keys (a submission checks the provider has one)."""
    values = {"DATABASE_URL": stores.local_database_url, "REDIS_URL": stores.local_redis_url,
              "OPENAI_API_KEY": API_KEY, "ELEVENLABS_API_KEY": API_KEY}  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        for name, value in values.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        reset_engine()
        reset_redis()
        try:
            yield
        finally:
            reset_engine()
            reset_redis()
    get_settings.cache_clear()


@contextmanager
def cluster(folder: Path, stores_folder: Path, *, latency: float) -> Iterator[Cluster]:
    """The stores (migrated, demo data) and the fake providers (answering after `latency` seconds), each
    on a host of its own; this process's settings point at the stores until the end."""
    with Network(folder / "logs") as network:
        stores = start_stores(network, network.host("stores"), stores_folder)
        provider = network.host("provider")
        command = [
            sys.executable, "-m", "tests.provider_host", provider.address, str(PROVIDER_PORT),
            "--latency", str(latency), "--calls", str(folder / "calls.json"),
        ]  # fmt: skip
        network.start(provider, command, env={"PATH": os.environ.get("PATH", ""), "FAKE_API_KEY": API_KEY},
                      cwd=ROOT, log="provider.log")  # fmt: skip
        with console(stores):
            upgrade()
            demo_data()
            yield Cluster(network, stores, provider, folder)
