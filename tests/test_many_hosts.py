"""Workers on many hosts, on a simulated network (tests/netns.py, tests/simulated_hosts.py): the stores
on one host, the fake providers (answering each request after 1 s) on another, workers and the
dashboard each on their own, sharing nothing but the stores, as machines do.

Throughput by the number of hosts is a benchmark (`make bench BENCH=many-hosts`), not a test.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections import Counter
from typing import Any

from rq.job import Job, JobStatus
from sqlalchemy import select

from db.engine import new_session
from db.events import What
from db.models import Chunk, Event, StoryAudio, WorkerBeat
from tests.factories import staff_user
from tests.simulated_hosts import DASHBOARD_PORT, Cluster
from tests.store_host import BUCKET
from tests.workers_env import wait_until
from workers.redis_connection import redis
from workers.service import sessions
from workers.service.submit import Request, submit

PASSAGE = "The lighthouse keeper counted the ships that passed in the night. " * 60
"""About 4,000 characters: one passage of tts-1's 4,096."""
PASSAGES = 8
TAKEOVER_GOAL = 30.0
ONE_AT_A_TIME = {"WORKER_JOBS": "1", "OPENAI_CONCURRENCY": "1"}
"""A worker on one job, one request at a time: each passage takes the provider's second, so the cut
lands between passages the test can count."""


def _story(label: str) -> int:
    text = "\n\n".join(f"{label}, part {n}. {PASSAGE}" for n in range(PASSAGES))
    request = Request(kind="story", target_id=1, prompt=text, provider="openai", model="tts-1", voice="nova")
    return submit(request).row_id


def _row(row_id: int) -> StoryAudio:
    with new_session() as session:
        row = session.get(StoryAudio, row_id)
        assert row is not None
        return row


def _done_passages(row_id: int) -> dict[int, str]:
    with new_session() as session:
        found = select(Chunk.idx, Chunk.text).where(Chunk.story_audio_id == row_id, Chunk.status == "done")
        return {idx: text for idx, text in session.execute(found)}


def _events(row_id: int) -> Counter[str]:
    with new_session() as session:
        found = select(Event.what).where(Event.narration_kind == "story", Event.narration_id == row_id)
        return Counter(session.scalars(found))


def _seen_since(name_prefix: str, moment: Any) -> bool:
    with new_session() as session:
        found = select(WorkerBeat.last_seen_at).where(WorkerBeat.name.startswith(name_prefix))
        return any(seen > moment for seen in session.scalars(found))


def _finished(job: Job) -> bool:
    return job.get_status(refresh=True) == JobStatus.FINISHED


def _object_sha256(hosts: Cluster, key: str) -> str:
    """The object's SHA-256, read on the stores' host (the test is on no simulated host)."""
    code = (
        "import boto3, hashlib, sys; s3 = boto3.client('s3', endpoint_url=sys.argv[1]); "
        "print(hashlib.sha256(s3.get_object(Bucket=sys.argv[2], Key=sys.argv[3])['Body'].read()).hexdigest())"
    )
    store = hosts.network.hosts["stores"]
    command = [sys.executable, "-c", code, hosts.stores.s3_endpoint, BUCKET, key]
    return hosts.network.run(store, command, env=hosts.environment(store)).strip()


def _objects(hosts: Cluster, prefix: str) -> list[str]:
    code = (
        "import boto3, sys; s3 = boto3.client('s3', endpoint_url=sys.argv[1]); "
        "found = s3.list_objects_v2(Bucket=sys.argv[2], Prefix=sys.argv[3]).get('Contents', []); "
        "print('\\n'.join(o['Key'] for o in found))"
    )
    store = hosts.network.hosts["stores"]
    command = [sys.executable, "-c", code, hosts.stores.s3_endpoint, BUCKET, prefix]
    return hosts.network.run(store, command, env=hosts.environment(store)).split()


def test_a_host_cut_off_mid_job_is_finished_by_another_once_resuming_its_passages(hosts: Cluster) -> None:
    # Both hosts are up before the story exists: had the second started while the first worked, the
    # first could finish the story before the cut (a slow start on a busy machine took longer than
    # its last six passages). Whichever claims it is cut off; the other must finish it.
    hosts.start_worker("worker-a", **ONE_AT_A_TIME)
    hosts.start_worker("worker-b", **ONE_AT_A_TIME)
    hosts.wait_for_workers(2)
    row_id = _story("Cut")
    wait_until(lambda: len(_done_passages(row_id)) >= 2, timeout=120, what="a worker to finish two passages")
    kept = _done_passages(row_id)
    claimed = _row(row_id)
    assert claimed.processed_by is not None
    cut = claimed.processed_by.rsplit(".", 1)[0]  # "worker-a.<pid>"
    (other,) = {"worker-a", "worker-b"} - {cut}
    first_job = Job.fetch(str(claimed.task_id), connection=redis())

    hosts.network.cut(hosts.network.hosts[cut])
    cut_at = time.monotonic()
    wait_until(lambda: _row(row_id).status in ("completed", "failed"), timeout=120, every=0.2, what="the takeover")
    takeover = time.monotonic() - cut_at
    finished = _row(row_id)
    print(f"takeover: the cut host's row completed by another host {takeover:.1f} s after the cut")

    assert finished.status == "completed", finished.error_message
    assert finished.processed_by.startswith(f"{other}."), finished.processed_by  # type: ignore[union-attr]
    assert takeover <= TAKEOVER_GOAL, f"{takeover:.1f} s from the cut to completion on another host"
    assert _events(row_id)[What.REQUEUED] == 1
    asked = Counter(call["text"] for call in hosts.calls() if call["path"].endswith("/audio/speech"))
    # The passages the cut host finished before the cut came from the bucket: never asked for again.
    assert all(asked[text] == 1 for text in kept.values()), {idx: asked[text] for idx, text in kept.items()}
    # Only the request in flight at the cut may have been paid twice.
    assert sum(asked.values()) <= PASSAGES + 1, sum(asked.values())
    key = f"media/{finished.audio_file}"
    sha = _object_sha256(hosts, key)
    passages = _done_passages(row_id)

    # The cable goes back in: the cut host finds the row is no longer its own, and nothing it writes lands.
    mended = _row(row_id).updated_at
    hosts.network.mend(hosts.network.hosts[cut])
    wait_until(lambda: _seen_since(f"{cut}.", mended), timeout=60, what=f"{cut} back on the network")
    wait_until(lambda: _finished(first_job), timeout=60, what=f"{cut}'s job to end")
    ended = str(first_job.return_value())
    print(f"{cut}'s job, once back: {ended}")
    assert "stopped" in ended or "taken away" in ended, ended
    after = _row(row_id)
    assert (after.status, after.processed_by, after.audio_file, after.attempts, after.updated_at) == (
        finished.status, finished.processed_by, finished.audio_file, finished.attempts, finished.updated_at,
    )  # fmt: skip
    assert _done_passages(row_id) == passages
    assert _objects(hosts, f"media/tts/story/story-{row_id}-") == [key]
    assert _object_sha256(hosts, key) == sha
    assert _events(row_id)[What.REQUEUED] == 1


def test_the_dashboard_on_its_own_host_plays_audio_a_worker_wrote_on_another(hosts: Cluster) -> None:
    hosts.start_worker("worker")
    dashboard = hosts.start_dashboard("dashboard")
    hosts.wait_for_workers(1)
    row_id = submit(Request(kind="story", target_id=1, prompt="The harbour bell rang twice.", provider="openai",
                            model="tts-1", voice="nova")).row_id  # fmt: skip
    wait_until(lambda: _row(row_id).status == "completed", timeout=120, what="the narration")
    started = sessions.start(staff_user("listener"))
    assert started is not None
    listener = hosts.network.host("listener")
    address = f"http://{dashboard.address}:{DASHBOARD_PORT}/narration-desk/audio/story/{row_id}"
    cookie = {"Cookie": f"{sessions.cookie_name(False)}={started.token}"}

    status, whole = hosts.fetch(listener, address, headers=cookie)
    assert status == 200
    assert hashlib.sha256(whole).hexdigest() == _object_sha256(hosts, f"media/{_row(row_id).audio_file}")
    status, part = hosts.fetch(listener, address, headers={**cookie, "Range": "bytes=1000-1999"})
    assert (status, part) == (206, whole[1000:2000])  # a player seeks
    status, _ = hosts.fetch(listener, address, headers={})
    assert status == 401
