"""Workers on many hosts: throughput by the number of worker hosts, on a simulated network.

The stores (PostgreSQL, Redis, S3) on one host, the fake providers on another answering every request
after LATENCY (1 s, the issue's figure), then 1, 2 and 4 worker hosts in turn, each running one
`narration-desk worker` (tests/simulated_hosts.py). Each round submits JOBS_PER_HOST one-passage scene
narrations per host at once and times them from submission to the last completion. The ratio is
each round's throughput against the one-host round's, measured in the same run: N hosts should come
close to N times one (goal ≥ 0.9 × N), since a worker spends its job waiting on the provider and the
stores are shared by design. Needs root and `ip netns` (tests/netns.py says why when it cannot run).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from redis import Redis

from tests.netns import unavailable
from tests.simulated_hosts import cluster
from tests.workers_env import all_finished, statuses, wait_until
from workers.service.submit import Request, submit

LATENCY = 1.0
HOSTS = (1, 2, 4)
JOBS_PER_HOST = 12
ONE_JOB = {"WORKER_JOBS": "1"}
"""Each worker host holds one job at a time, so one host's throughput is bound by the provider's
second, as a real host's is by what it may send at once, and not by the two cores every simulated
host shares here: with the default (eight jobs a worker) one host already used the cores up."""


def _round(hosts: int) -> float:
    """Jobs completed per second with `hosts` worker hosts."""
    jobs = JOBS_PER_HOST * hosts
    began = time.monotonic()
    ids = [
        submit(Request(kind="scene", target_id=1 + i % 7, prompt=f"Round {hosts}, scene {i}: the gulls wheeled.",
                       provider="openai", model="tts-1", voice="nova")).row_id
        for i in range(jobs)
    ]  # fmt: skip
    wait_until(lambda: all_finished("scene", ids), timeout=60 + 10 * jobs, every=0.1, what=f"{jobs} jobs")
    elapsed = time.monotonic() - began
    done = statuses("scene", ids)
    if set(done.values()) != {"completed"}:
        raise SystemExit(f"{hosts} hosts: not every job completed: {sorted(done.values())}")
    return jobs / elapsed


def run(connection: Redis) -> dict[str, float]:
    """`connection` (the bench's own Redis) is unused: the simulated hosts bring their own stores."""
    reason = unavailable()
    if reason:
        raise SystemExit(f"many-hosts: cannot build the simulated network: {reason}.")
    results: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="nd-hosts-") as folder,
        tempfile.TemporaryDirectory(prefix="nd-st-") as stores,
        cluster(Path(folder), Path(stores), latency=LATENCY) as hosts,
    ):
        for count in HOSTS:
            for number in range(count):
                hosts.start_worker(f"w{count}-{number}", **ONE_JOB)
            hosts.wait_for_workers(count)
            results[f"{count} worker hosts: jobs per second"] = _round(count)
            hosts.stop_workers()
        one = results["1 worker hosts: jobs per second"]
        for count in HOSTS[1:]:
            rate = results[f"{count} worker hosts: jobs per second"]
            results[f"{count} worker hosts / (1 host × {count})"] = rate / (one * count)
    return results
