"""Fail fast: a bad setting or a store that does not answer stops a start with one sentence.

The checks are called directly (`workers.operations.startup`, `workers.cli.main`); one test starts the real
dashboard process to show the sentence reaches its output and the exit status is 2.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from redis import Redis

from dashboard import alert_watch
from db.settings import SECRETS_FILE_ENV
from tests.live import ROOT, Commands, free_port
from workers.cli import main
from workers.operations.startup import StartupRefused, check_servers, load_settings, masked

PASSWORD = "hunter2-not-for-logs"


def _closed_postgres() -> str:
    return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/postgres"


def _closed_redis() -> str:
    return f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"


def test_a_bad_setting_is_one_sentence_naming_it_and_what_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOB_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("MASTERING_PROFILE", "loud")

    with pytest.raises(StartupRefused) as refused:
        load_settings()

    assert str(refused.value) == (
        "Setting JOB_TIMEOUT_SECONDS ('5') is not allowed: it should be greater than or equal to 10. "
        "Setting MASTERING_PROFILE ('loud') is not allowed: it should be 'standard', 'acx', 'podcast' or 'raw'."
    )


def test_a_bad_secret_setting_is_named_without_its_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("OPENAI_API_KEY = 73519\n")  # a number where a key belongs
    monkeypatch.setenv(SECRETS_FILE_ENV, str(secrets))

    with pytest.raises(StartupRefused, match=r"^Setting OPENAI_API_KEY is not allowed: it should be a valid string\.$"):
        load_settings()


def test_a_broken_secrets_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'OPENAI_API_KEY = "{PASSWORD}\n')  # unterminated string
    monkeypatch.setenv(SECRETS_FILE_ENV, str(secrets))

    with pytest.raises(StartupRefused, match=rf"^The secrets file {secrets} is not valid TOML") as refused:
        load_settings()
    assert PASSWORD not in str(refused.value)


def test_unreachable_postgresql_is_a_sentence_without_the_password(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _closed_postgres()
    monkeypatch.setenv("DATABASE_URL", url)

    with pytest.raises(StartupRefused) as refused:
        check_servers()

    message = str(refused.value)
    port = url.rsplit(":", 1)[1].split("/")[0]
    assert message.startswith(f"PostgreSQL at 127.0.0.1:{port} did not answer: ")
    assert message.endswith("Start it or fix DATABASE_URL.")
    assert "Redis" not in message  # the Redis of the test answers
    assert PASSWORD not in message


def test_unreachable_redis_is_a_sentence_without_the_password(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = _closed_redis()
    monkeypatch.setenv("REDIS_URL", url)

    with pytest.raises(StartupRefused) as refused:
        check_servers()

    message = str(refused.value)
    port = url.rsplit(":", 1)[1].split("/")[0]
    assert message.startswith(f"Redis at 127.0.0.1:{port} did not answer: ")
    assert message.endswith("Start it or fix REDIS_URL.")
    assert PASSWORD not in message


def test_unset_stores_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)

    with pytest.raises(StartupRefused, match=r"^DATABASE_URL is not set; .* REDIS_URL is not set; "):
        check_servers()


def test_the_dashboard_check_passes_with_both_stores_answering(db: str, redis: Redis) -> None:
    assert check_servers().database_url is not None


def test_urls_are_shown_without_their_password() -> None:
    assert masked(f"postgresql://app:{PASSWORD}@db:5432/app") == "postgresql://app:***@db:5432/app"
    assert masked(f"redis://:{PASSWORD}@cache:6379/0") == "redis://:***@cache:6379/0"
    assert masked("redis://cache:6379/0") == "redis://cache:6379/0"


def test_a_command_with_a_bad_setting_exits_2_with_the_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORKER_JOBS", "0")

    assert main(["worker"]) == 2

    err = capsys.readouterr().err
    assert err == "narration-desk: Setting WORKER_JOBS ('0') is not allowed: it should be greater than or equal to 1.\n"


def test_run_with_an_unreachable_postgresql_starts_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", _closed_postgres())

    assert main(["run"]) == 2

    captured = capsys.readouterr()
    assert "PostgreSQL at 127.0.0.1:" in captured.err and "Start it or fix DATABASE_URL." in captured.err
    assert PASSWORD not in captured.err + captured.out
    assert "Embedded" not in captured.out  # nothing was started


def test_the_dashboard_process_exits_2_with_the_sentence(
    redis: Redis, monkeypatch: pytest.MonkeyPatch, commands: Commands
) -> None:
    monkeypatch.setenv("DATABASE_URL", _closed_postgres())
    finished = commands.run(
        [
            sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "server.py"),
            "--server.headless", "true", "--server.port", str(free_port()), "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false",
        ],
        timeout=60,
    )  # fmt: skip

    assert finished.returncode == 2
    assert "narration-desk dashboard: PostgreSQL at 127.0.0.1:" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert PASSWORD not in finished.stderr + finished.stdout


def test_an_alert_watch_round_with_a_bad_setting_logs_the_sentence(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ALERT_REPEAT_SECONDS", "1")  # below its minimum of 60

    with caplog.at_level(logging.ERROR, logger="dashboard.alert_watch"):
        alert_watch.watch_round("dashboard@test")  # does not raise

    assert [r.getMessage() for r in caplog.records] == [
        "alert watch round failed: Setting ALERT_REPEAT_SECONDS ('1') is not allowed: it should be greater than "
        "or equal to 60. Trying again in 15 s."
    ]


def test_the_alert_watch_logs_a_failed_round_and_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # never dialled: the check is replaced
    monkeypatch.setattr(alert_watch, "redis", lambda: None)
    monkeypatch.setattr(alert_watch, "ROUND_SECONDS", 0)
    rounds: list[str] = []

    def check_if_due(*_: object, checker: str) -> None:
        rounds.append(checker)
        if len(rounds) == 1:
            raise ConnectionError("Redis went away")

    monkeypatch.setattr(alert_watch, "check_if_due", check_if_due)

    async def watch_for_two_rounds() -> None:
        task = asyncio.create_task(alert_watch._watch())
        while len(rounds) < 2 and not task.done():
            await asyncio.sleep(0.01)
        assert not task.done()
        task.cancel()

    # On a thread of its own: the session's Chromium (Playwright's sync API) keeps an event loop
    # running in the main thread once a browser test has run, and asyncio.run refuses that.
    with caplog.at_level(logging.ERROR, logger="dashboard.alert_watch"), ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(lambda: asyncio.run(asyncio.wait_for(watch_for_two_rounds(), timeout=10))).result()

    assert len(rounds) >= 2
    failed = [r for r in caplog.records if r.getMessage().startswith("alert watch round failed; trying again")]
    assert len(failed) == 1 and failed[0].exc_info is not None


def test_a_worker_with_redis_unreachable_stops_with_the_sentence_before_taking_anything(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", _closed_redis())

    assert main(["worker", "--burst"]) == 2

    printed = capsys.readouterr().err
    assert "Redis at 127.0.0.1:" in printed and "Start it or fix REDIS_URL." in printed
    assert "Traceback" not in printed
