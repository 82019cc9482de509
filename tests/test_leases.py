"""Dead workers are noticed in seconds through their lease, and live ones, however slow, never are.

Real PostgreSQL, Redis and worker processes; the fake OpenAI holds each request a few seconds, so
a SIGKILL lands mid-request. The heartbeat-age rule is pushed out of reach (300 s) wherever the
test is about the lease rule, so only the lease can have given a row back.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import select, text

from db import leases
from db.engine import new_session
from db.lifecycle import claim
from db.models import Event, SceneAudio
from tests.fake_providers import FakeProviders
from tests.test_reliability import _paid_calls_per_row, _scene_jobs
from tests.workers_env import WorkersStarter, all_finished, statuses, wait_until
from workers.engine.lease import GRACE, Lease


def _leases_in_force() -> bool:
    """Whether every lease connection is past the grace after a (re)start (db/leases.py): before
    that only the heartbeat-age rule acts."""
    with new_session() as session:
        return leases.in_force(session, grace=GRACE)


def _processing_under(pid: int, ids: list[int]) -> list[int]:
    with new_session() as session:
        return list(
            session.scalars(
                select(SceneAudio.id).where(
                    SceneAudio.id.in_(ids),
                    SceneAudio.status == "processing",
                    SceneAudio.processed_by.endswith(f".{pid}"),
                )
            )
        )


def _several_under(pid: int, ids: list[int]) -> list[int]:
    """The rows processing under the worker `pid`, once it holds four of them (else empty)."""
    held = _processing_under(pid, ids)
    return held if len(held) >= 4 else []


def _processing_by(row_id: int) -> str | None:
    with new_session() as session:
        query = select(SceneAudio.processed_by).where(SceneAudio.id == row_id, SceneAudio.status == "processing")
        return session.scalar(query)


def _requeued(ids: list[int]) -> list[tuple[int, str | None, str | None]]:
    with new_session() as session:
        return [
            (row_id, worker, message)
            for row_id, worker, message in session.execute(
                select(Event.narration_id, Event.worker, Event.message).where(
                    Event.narration_kind == "scene", Event.narration_id.in_(ids), Event.what == "requeued"
                )
            )
        ]


def test_a_worker_killed_with_several_jobs_in_flight_is_taken_over_through_its_lease_and_every_row_is_paid_once(
    fake: FakeProviders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: WorkersStarter
) -> None:
    monkeypatch.setenv("WORKER_DEAD_AFTER_SECONDS", "300")  # only the lease can give a row back
    fake.latency = 3.0
    with workers(tmp_path) as running:
        victim, survivor = running.start(), running.start(WORKER_JOBS="1")  # the victim holds most
        wait_until(_leases_in_force, timeout=60, what="the lease rule to be in force")
        ids = _scene_jobs(8, "Lease")
        in_flight = wait_until(lambda: _several_under(victim.pid, ids), timeout=60, what="4 rows on the victim")
        wait_until(lambda: fake.max_concurrent_seen["openai"] >= 4, timeout=10, what="its requests in flight")
        os.kill(victim.pid, signal.SIGKILL)
        wait_until(lambda: all_finished("scene", ids), timeout=120, what="every row to finish")

    assert set(statuses("scene", ids).values()) == {"completed"}, running.logs()[-3000:]
    with new_session() as session:
        query = select(SceneAudio.id, SceneAudio.processed_by).where(SceneAudio.id.in_(ids))
        finished_by = {row_id: str(worker) for row_id, worker in session.execute(query)}
    requeued = _requeued(ids)
    given_back = {row_id for row_id, _, _ in requeued}
    # Every row the victim held at the kill (at least the four seen, maybe one it took just after)
    # was given back through its lease and finished by the survivor.
    assert set(in_flight) <= given_back, requeued
    assert all(
        message == leases.LAPSED and worker and worker.endswith(f".{victim.pid}") for _, worker, message in requeued
    )
    assert all(finished_by[row_id].endswith(f".{survivor.pid}") for row_id in given_back), finished_by
    paid = _paid_calls_per_row(fake, "Lease", ids)
    # A request in flight at the kill may have been answered to a dead socket: paid, not used.
    assert all(paid[row_id] in (1, 2) for row_id in given_back), paid
    assert all(paid[row_id] == 1 for row_id in set(ids) - given_back), paid


def _cut_lease_connection(worker: str) -> bool:
    """Terminate the server session holding `worker`'s lock, as a network blink or an admin would."""
    with new_session() as session:
        cut = session.scalar(
            text(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks AS l JOIN tts_worker AS w"
                " ON (l.classid::bigint << 32) | l.objid::bigint = w.lease_key"
                " WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND w.name = :worker"
            ),
            {"worker": worker},
        )
    return bool(cut)


def test_a_live_but_slow_job_is_never_taken_over_even_when_its_lease_connection_blinks(
    fake: FakeProviders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: WorkersStarter
) -> None:
    fake.latency = 10.0  # well past the lease margin and a few heartbeat-age checks (5 s in tests)
    monkeypatch.setenv("PROVIDER_TIMEOUT_SECONDS", "30")
    with workers(tmp_path) as running:
        running.start()
        running.start()
        wait_until(_leases_in_force, timeout=60, what="the lease rule to be in force")
        ids = _scene_jobs(1, "Slow")
        worker = wait_until(lambda: _processing_by(ids[0]), timeout=60, what="the claim")
        # The lock is gone until the worker's next beat takes it again: not a death.
        assert _cut_lease_connection(worker)
        wait_until(lambda: all_finished("scene", ids), timeout=120, what="the slow row to finish")

    assert statuses("scene", ids) == {ids[0]: "completed"}, running.logs()[-3000:]
    assert _requeued(ids) == []
    assert _paid_calls_per_row(fake, "Slow", ids) == {ids[0]: 1}
    with new_session() as session:
        assert session.scalar(select(SceneAudio.attempts).where(SceneAudio.id == ids[0])) == 1


def test_a_restarted_worker_of_the_same_name_gives_back_what_its_dead_namesake_held(fake: FakeProviders) -> None:
    """A container restarted after an OOM kill comes back with the same host name and pid, so the
    same worker name: its first heartbeat would hide the dead namesake's rows from both rules."""
    (row_id,) = _scene_jobs(1, "Namesake")
    with new_session() as session:
        assert claim(session, "scene", row_id, worker="box.7") is not None
        session.commit()
    lease = Lease()
    try:
        lease.beat(name="box.7")
    finally:
        lease.close()

    assert statuses("scene", [row_id]) == {row_id: "queued"}
    assert _requeued([row_id]) == [(row_id, "box.7", leases.RESTARTED)]
