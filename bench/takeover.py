"""Takeover: from a worker's death to its row being requeued and completed by another worker, by the
lease (SIGKILL: the server drops the dead process's lock) beside the heartbeat-age rule.

Two `narration-desk worker` processes with the default settings, one scene row, the fake OpenAI
holding each request 8 s (the issue's measurement), so the death lands mid-request. The old rule is
measured in the same run on a frozen worker (SIGSTOP): it keeps its lock, so only the heartbeat-age
rule can act, exactly as it did for every death before leases (a heartbeat stops the same way).
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

from redis import Redis
from sqlalchemy import select

from db import leases
from db.engine import new_session
from db.models import Event, SceneAudio
from db.settings import get_settings
from tests.fake_providers import FakeProviders
from tests.workers_env import wait_until, workers
from workers.engine.lease import GRACE
from workers.service.submit import Request, submit

LATENCY = 8.0
POLL = 0.05


def _row(row_id: int) -> tuple[str, str | None]:
    with new_session() as session:
        status, worker = session.execute(
            select(SceneAudio.status, SceneAudio.processed_by).where(SceneAudio.id == row_id)
        ).one()
        return str(status), worker


def _requeued(row_id: int) -> bool:
    with new_session() as session:
        found = select(Event.id).where(
            Event.narration_kind == "scene", Event.narration_id == row_id, Event.what == "requeued"
        )
        return session.scalar(found) is not None


def _in_force() -> bool:
    with new_session() as session:
        return leases.in_force(session, grace=GRACE)


def _death(how: signal.Signals, label: str, folder: Path) -> tuple[float, float]:
    """Seconds from `how` reaching the worker running a fresh row to the row's REQUEUED event, and
    to its completion by the other worker."""
    (folder / label).mkdir()
    with workers(folder / label) as running:
        pair = {process.pid: process for process in (running.start(), running.start())}
        wait_until(_in_force, timeout=120, what="both workers up and their leases in force")
        row_id = submit(Request(kind="scene", target_id=1, prompt=f"{label}: the tide came in.", provider="openai",
                                model="tts-1", voice="nova")).row_id  # fmt: skip
        worker = wait_until(lambda: _row(row_id)[0] == "processing" and _row(row_id)[1], timeout=60, what="a claim")
        time.sleep(1.0)  # mid-request
        victim = pair[int(str(worker).rsplit(".", 1)[1])]
        victim.send_signal(how)
        died = time.monotonic()
        wait_until(lambda: _requeued(row_id), timeout=120, every=POLL, what="the requeue")
        requeued = time.monotonic() - died
        wait_until(lambda: _row(row_id)[0] == "completed", timeout=120, every=POLL, what="the completion")
        completed = time.monotonic() - died
        victim.kill()  # a frozen worker would not hear the SIGTERM that ends the others
        victim.wait()
    return requeued, completed


def run(connection: Redis) -> dict[str, float]:
    with FakeProviders(seconds_per_char=0.002, latency=LATENCY) as fake:
        os.environ.update(OPENAI_API_KEY=fake.api_key, OPENAI_BASE_URL=fake.openai_base_url)  # the workers' too
        get_settings.cache_clear()
        with tempfile.TemporaryDirectory(prefix="nd-takeover-") as folder:
            lease_requeued, lease_completed = _death(signal.SIGKILL, "lease", Path(folder))
            old_requeued, old_completed = _death(signal.SIGSTOP, "heartbeat-age", Path(folder))
    return {
        "lease (SIGKILL): to requeued (s)": lease_requeued,
        "lease (SIGKILL): to completed by the other worker (s)": lease_completed,
        "heartbeat age (SIGSTOP): to requeued (s)": old_requeued,
        "heartbeat age (SIGSTOP): to completed by the other worker (s)": old_completed,
        "to requeued, heartbeat age / lease": old_requeued / lease_requeued,
        f"to completed (with one {LATENCY:.0f} s request), heartbeat age / lease": old_completed / lease_completed,
    }
