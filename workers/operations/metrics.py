"""The Prometheus endpoints: each worker's own figures, and the desk-wide ones the dashboard serves.

A worker serves prometheus_client's default registry, where `workers.engine.metrics` keeps its jobs,
requests, failures, characters billed and heartbeat (plus the client's process and Python figures).
The dashboard serves a registry of its own: the queues and workers as PostgreSQL and Redis see them,
read when Prometheus scrapes (one grouped query over the partial index on queued rows, one over the
heartbeats, one Redis round trip: no scan of the library), and its process figures. Queue-wide
figures come from one place so that N workers do not report the same queue N times.

    narration_desk_queue_depth{priority}               queued rows due now, waiting for a worker
    narration_desk_queue_scheduled{priority}           queued rows waiting for a later start or retry
    narration_desk_queue_oldest_wait_seconds{priority} how long the longest-waiting due row has waited
    narration_desk_rq_jobs_waiting{priority}           jobs in the RQ queue (Redis's view of the same)
    narration_desk_workers_alive                       workers with a heartbeat within WORKER_DEAD_AFTER_SECONDS
    narration_desk_store_up{store}                     1 when PostgreSQL / Redis answered this scrape

Each endpoint binds METRICS_ADDRESS on a port of its own, the first free one from WORKER_METRICS_PORT
(workers) or DASHBOARD_METRICS_PORT (dashboards) up, trying PORTS_TRIED ports: several workers on one
host then take consecutive ports, and a restarted one takes the lowest free port again, so a scrape
configuration listing those ports keeps finding them. A worker is one process (its jobs run on
threads, never in forked children), so prometheus_client's multiprocess mode, made for servers that
fork request handlers behind one port, has nothing to merge here, and would hide which worker said what.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Literal

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy.exc import SQLAlchemyError

from db import live
from db.engine import new_session
from db.narrations import now
from db.settings import get_settings
from workers.engine import metrics
from workers.engine.queue import QUEUE_NAMES, queue_name
from workers.operations.startup import StartupRefused
from workers.redis_connection import redis

log = logging.getLogger(__name__)

PORTS_TRIED = 32
"""How many ports from the configured one up a process tries before giving up with a sentence."""

PRIORITIES = ("high", "default", "low")
"""The priority label: a row's priority above 0, 0, or below 0, as its RQ queue (workers/engine/queue.py)."""
_PRIORITY_OF_QUEUE = dict(zip(QUEUE_NAMES, PRIORITIES, strict=True))


def priority_label(priority: int) -> str:
    return _PRIORITY_OF_QUEUE[queue_name(priority)]


GAUGES = {
    "narration_desk_queue_depth": ("Queued rows due now, waiting for a worker.", ["priority"]),
    "narration_desk_queue_scheduled": ("Queued rows waiting for a later start or a retry's backoff.", ["priority"]),
    "narration_desk_queue_oldest_wait_seconds": (
        "Seconds the longest-waiting due row has waited (0 when none waits).",
        ["priority"],
    ),
    "narration_desk_workers_alive": ("Workers whose heartbeat is within WORKER_DEAD_AFTER_SECONDS.", []),
    "narration_desk_rq_jobs_waiting": ("Jobs waiting in the RQ queue of this priority.", ["priority"]),
    "narration_desk_store_up": ("1 when the store answered this scrape.", ["store"]),
}
"""What the dashboard exports: name, help and labels, in one place for `describe` and `collect`."""


def _gauge(name: str) -> GaugeMetricFamily:
    documentation, labels = GAUGES[name]
    return GaugeMetricFamily(name, documentation, labels=labels)


class QueueCollector(Collector):
    """The queues and workers, read from PostgreSQL and Redis at each scrape. A store that does not
    answer leaves its figures out and says so in `narration_desk_store_up`, rather than failing the
    whole scrape."""

    def collect(self) -> Iterator[Metric]:
        up = _gauge("narration_desk_store_up")
        try:
            yield from self._from_postgresql()
            up.add_metric(["postgresql"], 1)
        except SQLAlchemyError as error:
            log.warning("metrics: PostgreSQL did not answer (%s)", type(error).__name__)
            up.add_metric(["postgresql"], 0)
        try:
            yield self._from_redis()
            up.add_metric(["redis"], 1)
        except RedisError as error:
            log.warning("metrics: Redis did not answer (%s)", type(error).__name__)
            up.add_metric(["redis"], 0)
        yield up

    def describe(self) -> Iterator[Metric]:
        """The names, without reading anything: the registry refuses a clash up front, and
        `?name[]=...` on the endpoint can pick among them."""
        return (_gauge(name) for name in GAUGES)

    @staticmethod
    def _from_postgresql() -> Iterator[Metric]:
        with new_session() as session:
            depths = live.queue_depth(session)
            dead_after = timedelta(seconds=get_settings().worker_dead_after_seconds)
            alive = sum(w.alive for w in live.workers(session, dead_after=dead_after))
        checked_at = now()
        due = dict.fromkeys(PRIORITIES, 0)
        later = dict.fromkeys(PRIORITIES, 0)
        waited = dict.fromkeys(PRIORITIES, 0.0)
        for depth in depths:
            label = priority_label(depth.priority)
            due[label] += depth.due
            later[label] += depth.later
            if depth.oldest_due_since is not None:
                waited[label] = max(waited[label], (checked_at - depth.oldest_due_since).total_seconds())
        yield _by_priority("narration_desk_queue_depth", due)
        yield _by_priority("narration_desk_queue_scheduled", later)
        yield _by_priority("narration_desk_queue_oldest_wait_seconds", waited)
        workers = _gauge("narration_desk_workers_alive")
        workers.add_metric([], alive)
        yield workers

    @staticmethod
    def _from_redis() -> Metric:
        connection = redis()
        with connection.pipeline(transaction=False) as pipeline:
            for name in QUEUE_NAMES:
                pipeline.llen(Queue(name, connection=connection).key)
            lengths = pipeline.execute()
        waiting = {_PRIORITY_OF_QUEUE[name]: int(length) for name, length in zip(QUEUE_NAMES, lengths, strict=True)}
        return _by_priority("narration_desk_rq_jobs_waiting", waiting)


def _by_priority(name: str, values: dict[str, int] | dict[str, float]) -> Metric:
    family = _gauge(name)
    for priority in PRIORITIES:
        family.add_metric([priority], values[priority])
    return family


def dashboard_registry() -> CollectorRegistry:
    """What a dashboard serves: the queues and workers, and its own process (memory, CPU, files)."""
    registry = CollectorRegistry()
    registry.register(QueueCollector())
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def serve(role: Literal["worker", "dashboard"]) -> int | None:
    """Start this process's endpoint if its port is set; the port it took, or None when off."""
    settings = get_settings()
    first = settings.worker_metrics_port if role == "worker" else settings.dashboard_metrics_port
    if first is None:
        return None
    if role == "worker":
        metrics.prepare()
    registry = REGISTRY if role == "worker" else dashboard_registry()
    for port in range(first, min(first + PORTS_TRIED, 65536)):
        try:
            start_http_server(port, addr=settings.metrics_address, registry=registry)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                continue
            raise StartupRefused(
                f"The {role}'s Prometheus endpoint cannot listen on {settings.metrics_address}:{port} "
                f"({error.strerror}); check METRICS_ADDRESS."
            ) from None
        log.info("Prometheus metrics of this %s on http://%s:%s/metrics", role, settings.metrics_address, port)
        return port
    setting = "WORKER_METRICS_PORT" if role == "worker" else "DASHBOARD_METRICS_PORT"
    raise StartupRefused(
        f"Ports {first} to {first + PORTS_TRIED - 1} on {settings.metrics_address} are all taken: no Prometheus "
        f"endpoint for this {role}. Set {setting} to a free range."
    )
