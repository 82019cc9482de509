"""Bulk: many one-passage narrations through ONE worker process, against the provider's limit.

The fake OpenAI answers every request after LATENCY seconds and refuses (429) any request above
its limit of requests in flight; the worker is told the same limit (OPENAI_CONCURRENCY). The ideal
is what the provider allows: rows × latency ÷ in flight, and never under one latency (each row is
one request). Measured from the first claim to the last completion in the rows themselves, so the
worker's start (imports, connections) is reported apart. Memory is the worker's peak RSS (VmHWM).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from redis import Redis
from sqlalchemy import func, select

from db.engine import new_session
from db.models import SceneAudio
from db.settings import get_settings
from tests.fake_providers import FakeProviders
from workers.service.submit import Request, submit

LATENCY = 1.0
ROWS = tuple(int(n) for n in os.environ.get("BULK_ROWS", "40,200,1000").split(","))
IN_FLIGHT = tuple(int(n) for n in os.environ.get("BULK_IN_FLIGHT", "4,16,64").split(","))
"""The matrix the issue asks for; BULK_ROWS / BULK_IN_FLIGHT run a part of it."""
ROOT = Path(__file__).resolve().parents[1]


def _memory_mb(pid: int) -> tuple[float, float]:
    """(peak, current) resident memory of a process, in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


def _finished(ids: list[int]) -> int:
    with new_session() as session:
        return int(
            session.scalar(
                select(func.count()).where(SceneAudio.id.in_(ids), SceneAudio.status.in_(["completed", "failed"]))
            )
            or 0
        )


def _span(ids: list[int]) -> tuple[float, int, float, float]:
    """Seconds from the first claim to the last completion, how many rows completed, and each
    row's own claim-to-completion seconds: their sum and their median."""
    each = func.extract("epoch", SceneAudio.completed_at - SceneAudio.started_at)
    with new_session() as session:
        first, last, completed, total, median = session.execute(
            select(
                func.min(SceneAudio.started_at),
                func.max(SceneAudio.completed_at),
                func.count(),
                func.sum(each),
                func.percentile_cont(0.5).within_group(each),
            ).where(SceneAudio.id.in_(ids), SceneAudio.status == "completed")
        ).one()
    if first is None or last is None:
        return 0.0, 0, 0.0, 0.0
    return (last - first).total_seconds(), int(completed), float(total), float(median)


def _machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat: everything but idle and iowait)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _one(fake: FakeProviders, rows: int, in_flight: int, label: str) -> dict[str, float]:
    fake.concurrency_limits = {"openai": in_flight}
    os.environ["OPENAI_CONCURRENCY"] = str(in_flight)
    get_settings.cache_clear()
    ids = [
        submit(
            Request(kind="scene", target_id=1 + i % 7, prompt=f"{label} {i}: the tide came in.", provider="openai",
                    model="tts-1", voice="nova")
        ).row_id
        for i in range(rows)
    ]  # fmt: skip
    started = time.perf_counter()
    busy_before = _machine_busy_seconds()
    worker = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "worker"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while _finished(ids) < rows:
            if worker.poll() is not None:
                raise SystemExit(f"the worker exited with {worker.returncode}")
            time.sleep(0.2)
        peak, current = _memory_mb(worker.pid)
        cpu = _cpu_seconds(worker.pid)
        machine = _machine_busy_seconds() - busy_before
        running_for = time.perf_counter() - started
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    wall = time.perf_counter() - started
    span, completed, busy, median = _span(ids)
    ideal = max(rows / in_flight, 1) * LATENCY
    refused = sum(1 for call in fake.calls_for(f"{label} ") if call.status == 429)
    return {
        "completed": float(completed),
        "first claim to last completion (s)": span,
        "ideal, rows x latency / in flight (s)": ideal,
        "ratio to ideal (goal <= 1.2)": span / ideal,
        "worker start to last completion (s)": wall,
        # Which side falls short: the worker taking jobs (fewer held than places to send) or each
        # job taking longer than the provider's latency (the worker's CPU per row, or the machine's).
        "rows held on average (sum of claim-to-completion / span)": busy / span if span else 0.0,
        "median claim to completion of a row (s)": median,
        "worker CPU per row, start included (ms)": cpu / rows * 1000,
        # The worker, the fake provider (this process), PostgreSQL and Redis share the machine: at
        # os.cpu_count() cores busy, the machine, not the worker, sets the pace.
        "worker CPU, cores busy on average": cpu / running_for,
        f"machine CPU, cores busy on average (of {os.cpu_count()})": machine / running_for,
        # The bound no process layout can beat here: every row costs the machine this much CPU
        # (worker, PostgreSQL, Redis and the fake provider together), and it has os.cpu_count()
        # cores. Above the goal, the goal needs cheaper rows or more cores, not more overlap.
        "machine CPU per row, everything on it (ms)": machine / rows * 1000,
        "best ratio to ideal its cores allow at that cost": max(machine / (os.cpu_count() or 1), ideal) / ideal,
        "requests refused 429 by the provider": float(refused),
        "worker peak RSS (MB)": peak,
        "worker RSS at the end (MB)": current,
    }


def run(connection: Redis) -> dict[str, float]:
    results: dict[str, float] = {}
    with FakeProviders(seconds_per_char=0.002, latency=LATENCY) as fake:
        os.environ.update(OPENAI_API_KEY=fake.api_key, OPENAI_BASE_URL=fake.openai_base_url)
        for in_flight in IN_FLIGHT:
            for rows in ROWS:
                name = f"{rows} rows, {in_flight} in flight"
                for key, value in _one(fake, rows, in_flight, f"B{rows}x{in_flight}").items():
                    results[f"{name}: {key}"] = value
                print(f"  ... {name}: {results[f'{name}: first claim to last completion (s)']:.1f} s", flush=True)
    return results
