"""Media in a bucket against media on disk: what STORAGE_URL=s3://... costs the pipeline and the player.

The same operations run on a LocalStore (a temporary MEDIA_ROOT) and an ObjectStore (a bucket on
moto's S3 server in a process of its own on this machine, as in the tests): writing a narration's passages and its
file, reading the passages back as a resumed job does, and streaming the file as the playback
route does (whole, and one 1 MiB Range as a seek asks). Each figure is the median of 3, and the
ratio is bucket ÷ disk. moto is Python answering over loopback HTTP, so the bucket's figures are
an upper bound for a real S3 or MinIO: what this shows is the shape (per-request cost on many small
passages, streaming that holds one piece at a time), not a production number. The process's
peak RSS growth while streaming the file says whether the route holds it whole (it must not).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import httpx
import psutil
from redis import Redis

from tests.buckets import AWS_ENV
from workers.engine.narrate import stored_pcms
from workers.engine.store import LocalStore, MediaStore, ObjectStore

PASSAGES = 60
PASSAGE_BYTES = 200_000  # about 4.5 s of 22.05 kHz PCM
FILE_BYTES = 64 * 1024**2  # a long WAV narration
SEEK = (FILE_BYTES // 2, FILE_BYTES // 2 + 1024**2)


@contextmanager
def _moto_process() -> Iterator[str]:
    """moto's server in a process of its own (on a thread here, its buffers would count as ours)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(10)


def _median(work: Callable[[], object]) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _figures(store: MediaStore) -> dict[str, float]:
    passage, audio = os.urandom(PASSAGE_BYTES), os.urandom(FILE_BYTES)
    names = [f"tts/chunks/story-1/{i:04d}-{i}.pcm" for i in range(PASSAGES)]
    name = "tts/story/story-1-bench.wav"
    figures = {
        "write passages": _median(lambda: [store.write(n, passage, "chunk", durable=False) for n in names]),
        "write the file": _median(lambda: store.write(name, audio, "audio")),
        "read passages back, one at a time": _median(lambda: [store.read(n, "chunk") for n in names]),
        "read passages back as a job resumes": _median(lambda: stored_pcms(store, list(names))),
        "stream the file": _median(lambda: sum(len(p) for p in store.stream(name, "audio", 0, FILE_BYTES))),
        "one 1 MiB range": _median(lambda: b"".join(store.stream(name, "audio", *SEEK))),
    }
    process = psutil.Process()
    before = process.memory_info().rss
    peak = before
    for _ in store.stream(name, "audio", 0, FILE_BYTES):
        peak = max(peak, process.memory_info().rss)
    figures["RSS growth streaming (MB)"] = (peak - before) / 1024**2
    return figures


def run(_: Redis) -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="nd-bench-store-") as folder, _moto_process() as endpoint:
        os.environ.update({**AWS_ENV, "AWS_ENDPOINT_URL": endpoint})
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=endpoint, region_name=AWS_ENV["AWS_REGION"]).create_bucket(Bucket=bucket)
        disk = _figures(LocalStore(Path(folder)))
        cloud = _figures(ObjectStore(f"s3://{bucket}/media"))
    for label, seconds in disk.items():
        unit = "" if "MB" in label else " (s)"
        results[f"disk: {label}{unit}"] = seconds
        results[f"bucket: {label}{unit}"] = cloud[label]
        if "MB" not in label:
            results[f"bucket ÷ disk: {label}"] = cloud[label] / seconds
    return results
