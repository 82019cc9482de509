"""What a worker process tells Prometheus about itself: jobs and provider requests in flight, how
long they took, why they failed, the characters billed, and its last heartbeat.

The metrics live in prometheus_client's default registry, one set per process, and a worker serves
them on its own port (`workers.operations.metrics.serve`): a worker is one process running its jobs
on threads, so there is nothing to gather from other processes. Queue-wide figures (depth and oldest
wait by priority, workers alive) are the dashboard's (`workers.operations.metrics`), read once per
scrape, not once per worker.

Every label comes from a fixed set: `provider` from the catalogue (anything else a row names is
"other"), `outcome` and `reason` from the lists below. Nothing a person or the Django app wrote (a
text, a voice, a username, a key) can become a label value.

    narration_desk_jobs_in_flight                          jobs this worker runs now
    narration_desk_job_duration_seconds{provider,outcome}  claim to end of each job (histogram)
    narration_desk_requests_in_flight{provider}            provider requests waiting for an answer
    narration_desk_request_duration_seconds{provider,outcome}  each provider request (histogram)
    narration_desk_failures_total{provider,reason}         jobs that ended failed, by reason category
    narration_desk_request_failures_total{provider,reason} provider requests that failed, by reason
    narration_desk_characters_billed_total{provider}       characters the providers billed
    narration_desk_heartbeat_timestamp_seconds             when this worker's heartbeat last reached PostgreSQL
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from prometheus_client import Counter, Gauge, Histogram

from workers.engine.catalogue import CATALOGUE
from workers.engine.providers.base import REASONS, ProviderError, Reason

PROVIDERS: tuple[str, ...] = (*(str(info.id) for info in CATALOGUE), "other")

JobOutcome = Literal["completed", "failed", "retry", "stopped", "discarded", "fallback"]
"""How a job ended: its row completed, failed, queued again for a retry, stopped (cancelled, taken
over, shutting down, or handed back while PostgreSQL was away), or completed but taken away
meanwhile (its audio discarded). A job whose row was not queued any more records nothing."""
FailureReason = Reason | Literal["crash"]
"""A provider's or validation's category (`providers.base.Reason`), or "crash": an error of ours."""

DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
"""Seconds, from a cached short scene to a job at JOB_TIMEOUT_SECONDS' default."""

JOBS_IN_FLIGHT = Gauge("narration_desk_jobs_in_flight", "Jobs this worker is running now.")
JOB_DURATION = Histogram(
    "narration_desk_job_duration_seconds",
    "Seconds from taking a job to its end, by provider and outcome.",
    ["provider", "outcome"],
    buckets=DURATION_BUCKETS,
)
REQUESTS_IN_FLIGHT = Gauge(
    "narration_desk_requests_in_flight", "Provider requests sent and not yet answered.", ["provider"]
)
REQUEST_DURATION = Histogram(
    "narration_desk_request_duration_seconds",
    "Seconds each provider request took, by provider and outcome (ok or the failure's reason).",
    ["provider", "outcome"],
    buckets=DURATION_BUCKETS,
)
FAILURES = Counter(
    "narration_desk_failures", "Jobs whose narration ended failed, by provider and reason.", ["provider", "reason"]
)
REQUEST_FAILURES = Counter(
    "narration_desk_request_failures",
    "Provider requests that failed (retried or not), by provider and reason.",
    ["provider", "reason"],
)
CHARACTERS_BILLED = Counter(
    "narration_desk_characters_billed", "Characters the providers billed for requests this worker made.", ["provider"]
)
HEARTBEAT = Gauge(
    "narration_desk_heartbeat_timestamp_seconds", "Unix time this worker's heartbeat last reached PostgreSQL."
)


def provider_label(name: str) -> str:
    """The provider as a label: one the catalogue knows, else "other" (a row may name anything)."""
    return name if name in PROVIDERS else "other"


def reason_of(error: BaseException) -> FailureReason:
    """A failure's category: the provider error's own, or "crash" for anything else."""
    if isinstance(error, ProviderError) and error.reason in REASONS:
        return error.reason
    return "crash"


@contextmanager
def request_timed(provider: str) -> Iterator[None]:
    """Count one provider request in flight while it runs, then its duration and outcome."""
    label = provider_label(provider)
    started = time.perf_counter()
    outcome = "ok"
    with REQUESTS_IN_FLIGHT.labels(label).track_inprogress():
        try:
            yield
        except BaseException as error:
            outcome = reason_of(error)
            REQUEST_FAILURES.labels(label, outcome).inc()
            raise
        finally:
            REQUEST_DURATION.labels(label, outcome).observe(time.perf_counter() - started)


def billed(provider: str, characters: int | None) -> None:
    if characters:
        CHARACTERS_BILLED.labels(provider_label(provider)).inc(characters)


class JobClock:
    """Times one job from its claim and records how it ended; a failed one also counts under its reason."""

    def __init__(self, provider: str) -> None:
        self.provider = provider_label(provider)
        self.started = time.perf_counter()

    def ended(self, outcome: JobOutcome, failure: FailureReason | None = None) -> None:
        JOB_DURATION.labels(self.provider, outcome).observe(time.perf_counter() - self.started)
        if outcome == "failed":
            FAILURES.labels(self.provider, failure or "crash").inc()


def heartbeat() -> None:
    HEARTBEAT.set_to_current_time()


def prepare() -> None:
    """Create every labelled series at zero, so a rate or an increase is defined from the first
    scrape instead of appearing only with the first event (and dashboards show 0, not "no data")."""
    for provider in PROVIDERS:
        REQUESTS_IN_FLIGHT.labels(provider)
        CHARACTERS_BILLED.labels(provider)
        for reason in (*REASONS, "crash"):
            FAILURES.labels(provider, reason)
