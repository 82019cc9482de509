"""Everything the operations page charts, as data frames, computed without Streamlit.

The panels' queries run side by side (one session each), so the page waits for the slowest one
rather than their sum; timestamps come back in the display zone, ready for CSV and for charts.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy.orm import Session

from dashboard import labels, links
from db import alert_log, events, monitoring
from db.engine import new_session
from db.live import StuckJob
from db.models import STATES
from db.monitoring import HistoryFilters
from db.window import Window, zone
from workers.engine.costs import Costs, costs
from workers.operations.health import Health
from workers.operations.rq_status import QueueState

T = TypeVar("T")
PARALLEL_QUERIES = 4
RANGES = {
    "Last hour": timedelta(hours=1),
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
}
"""The time-range picker's presets; "Custom" takes calendar days instead."""


@dataclass(frozen=True)
class Panels:
    """Long-form frames, one per chart; each is also what its CSV download holds."""

    status: pd.DataFrame
    providers: pd.DataFrame
    failure_rate: pd.DataFrame
    errors: pd.DataFrame
    latency: pd.DataFrame
    costs: pd.DataFrame
    audio: pd.DataFrame
    month_to_date: Costs
    unpriced_models: list[str]


def _frame(rows: list[Any], columns: list[str], tz: str) -> pd.DataFrame:
    frame = pd.DataFrame([asdict(r) for r in rows], columns=columns)
    for column in ("bucket", "day"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_convert(tz)
    return frame


def as_text(frame: pd.DataFrame, columns: list[str], where: ZoneInfo) -> pd.DataFrame:
    """Times of a table as `labels.when` writes them ("2026-12-02 14:05 CET", "—" for none): a
    table shows a timestamp with its UTC offset otherwise."""
    for column in columns:
        frame[column] = [labels.when(None if pd.isna(t) else t, where) for t in frame[column]]
    return frame


def _run(query: Callable[[Session], T]) -> T:
    with new_session() as session:
        return query(session)


def load_panels(window: Window, filters: HistoryFilters, *, now: datetime) -> Panels:
    """Run every history query for the window (and month-to-date costs) and shape the results."""
    month = Window.month_to_date(now=now, tz=window.tz)
    queries: dict[str, Callable[[Session], Any]] = {
        "status": lambda s: monitoring.status_over_time(s, window, filters),
        "providers": lambda s: monitoring.provider_over_time(s, window, filters),
        "failure_rate": lambda s: monitoring.failure_rate(s, window, filters),
        "errors": lambda s: monitoring.top_errors(s, window, filters),
        "latency": lambda s: monitoring.latency(s, window, filters),
        "billed": lambda s: monitoring.billed_characters(s, window, filters),
        "month": lambda s: monitoring.billed_characters(s, month, filters),
        "audio": lambda s: monitoring.audio_hours(s, window, filters),
    }
    with ThreadPoolExecutor(PARALLEL_QUERIES) as pool:
        futures = {name: pool.submit(_run, query) for name, query in queries.items()}
        results = {name: future.result() for name, future in futures.items()}

    status = _frame(results["status"], ["bucket", *STATES], window.tz)
    status = status.melt(id_vars="bucket", var_name="status", value_name="jobs")
    latency = _frame(
        results["latency"],
        ["provider", "jobs", "wait_p50", "wait_p95", "processing_p50", "processing_p95"],
        window.tz,
    )
    latency = latency.melt(id_vars=["provider", "jobs"], var_name="measure", value_name="seconds")
    # Not `str.split(expand=True)`: with no job started in the window it makes no columns, and the page failed.
    parts = latency["measure"].str.split("_")
    latency = latency.assign(stage=parts.str[0], percentile=parts.str[1])
    spent = costs(results["billed"])
    local = zone(window.tz)
    return Panels(
        status=status,
        providers=_frame(results["providers"], ["bucket", "provider", "jobs"], window.tz),
        failure_rate=_with_share(
            _frame(results["failure_rate"], ["bucket", "provider", "failed", "finished", "rate"], window.tz)
        ),
        errors=as_text(_frame(results["errors"], ["message", "jobs", "last_seen"], window.tz), ["last_seen"], local),
        latency=latency.drop(columns="measure"),
        costs=_frame(spent.daily, ["day", "provider", "characters", "usd"], window.tz),
        audio=_frame(results["audio"], ["day", "hours"], window.tz),
        month_to_date=costs(results["month"]),
        unpriced_models=spent.unpriced_models,
    )


def _with_share(frame: pd.DataFrame) -> pd.DataFrame:
    """The rate as people read it ("4.2 %"), for the chart's tooltip and the CSV."""
    frame["share"] = frame["rate"].map(labels.percent).astype(str)
    return frame


MAINTENANCE_LABELS = {
    "stuck": "Stuck jobs requeued or failed",
    "failed_rows_cleaned": "Old failed narrations cleaned",
    "failed_files_deleted": "Files of old failures deleted",
    "previews_shrunk": "Previews re-cut to PREVIEW_MAX_BYTES",
    "alert_spans_pruned": "Old alert history rows pruned",
    "refused_paths": "Stored paths refused (left untouched)",
    "previews_kept": "Previews kept as they were",
    "errors": "Steps or rows that failed",
}
"""What each count in a maintenance report means, in its order on the page."""


def maintenance_table(report: dict[str, Any]) -> pd.DataFrame:
    """A maintenance report as (what, count): lists count their entries; audio freed reads in MiB."""
    rows = [
        {"what": label, "count": f"{len(value) if isinstance(value, list) else int(value):,}"}
        for key, label in MAINTENANCE_LABELS.items()
        if (value := report.get(key)) is not None
    ]
    storage = report.get("storage") or {}
    if "bytes_freed" in storage:
        rows.insert(
            4, {"what": "Audio freed for the storage quota", "count": f"{storage['bytes_freed'] / 1024**2:,.1f} MiB"}
        )
    return pd.DataFrame(rows, columns=["what", "count"])


def maintenance_details(report: dict[str, Any]) -> list[str]:
    """The lines behind the counts (which rows, which paths, what failed) and any storage warning."""
    storage = report.get("storage") or {}
    warning = [storage["warning"]] if storage.get("warning") else []
    return warning + [
        str(line) for key in ("stuck", "refused_paths", "previews_kept", "errors") for line in report.get(key) or []
    ]


@dataclass(frozen=True)
class LiveTables:
    queues: pd.DataFrame
    rq_queues: pd.DataFrame
    workers: pd.DataFrame
    stuck: pd.DataFrame


def narration_label(kind: str, row_id: int) -> str:
    return f"{kind} narration #{row_id}"


@dataclass(frozen=True)
class Running:
    """A narration a live worker holds now."""

    worker: str
    kind: str
    id: int

    @property
    def label(self) -> str:
        return narration_label(self.kind, self.id)


SHOWN_PER_WORKER = 3
"""Narrations named in a worker's row of the table; the rest are counted."""


def running(health: Health) -> list[Running]:
    """Every narration each live worker holds, for links to them (a worker holds several at once)."""
    return [Running(w.name, kind, row_id) for w in health.workers for kind, row_id in health.held.get(w.name, [])]


def _narrating(health: Health, worker: str) -> str | None:
    held = health.held.get(worker, [])
    if not held:
        return None
    named = ", ".join(narration_label(*row) for row in held[:SHOWN_PER_WORKER])
    more = len(held) - SHOWN_PER_WORKER
    return f"{named} and {more} more" if more > 0 else named


def _with_seconds(frame: pd.DataFrame, columns: list[str], where: ZoneInfo) -> pd.DataFrame:
    """Heartbeats to the second (a worker beats every few seconds), on the display zone's clock."""
    for column in columns:
        frame[column] = [t.astimezone(where).strftime("%H:%M:%S %Z") for t in frame[column]]
    return frame


def live_tables(health: Health, where: ZoneInfo) -> LiveTables:
    """The live snapshot as tables, times in the display zone; workers joined with RQ's registration
    of the same name, with the narrations each holds now."""
    queues = pd.DataFrame(
        [
            {"priority": labels.priority(q.priority), "due": q.due, "scheduled later": q.later,
             "waiting since": q.oldest_due_since}
            for q in health.queues
        ],
        columns=["priority", "due", "scheduled later", "waiting since"],
    )  # fmt: skip
    rq = {w.name: w for w in health.rq.workers}
    workers = pd.DataFrame(
        [
            {"worker": w.name, "alive": w.alive, "narrating": _narrating(health, w.name),
             "last heartbeat": w.last_seen_at, "RQ state": rq[w.name].state if w.name in rq else None,
             "started": w.started_at}
            for w in health.workers
        ],
        columns=["worker", "alive", "narrating", "last heartbeat", "RQ state", "started"],
    )  # fmt: skip
    stuck = pd.DataFrame([asdict(s) for s in health.stuck], columns=list(StuckJob.__dataclass_fields__))
    return LiveTables(
        queues=as_text(queues, ["waiting since"], where),
        rq_queues=pd.DataFrame([asdict(q) for q in health.rq.queues], columns=list(QueueState.__dataclass_fields__)),
        workers=_with_seconds(as_text(workers, ["started"], where), ["last heartbeat"], where),
        stuck=as_text(stuck, ["started_at"], where),
    )


def alert_history(window: Window) -> pd.DataFrame:
    """The alerts that held at some time in the window, newest first, times in the page's zone
    ("until" reads "—" while it still holds)."""
    with new_session() as session:
        found = alert_log.spans(session, window.start, window.end)
        rows = [
            {
                "alert": span.key,
                "from": span.started_at,
                "until": span.ended_at,  # empty: it still holds
                "lasted (min)": round(((span.ended_at or span.last_seen_at) - span.started_at).total_seconds() / 60),
                "last message": span.message,
            }
            for span in found
        ]
    frame = pd.DataFrame(rows, columns=["alert", "from", "until", "lasted (min)", "last message"])
    return as_text(frame, ["from", "until"], zone(window.tz))


EVENTS_SHOWN = 200
"""The newest events the operations page lists; the narration's own timeline has all of its own."""


def event_list(window: Window, what: events.What | None) -> pd.DataFrame:
    """The newest events of one kind (or of every kind) in the window, newest first, each with a
    link to its narration (which still shows its history after a delete), times in the page's zone."""
    with new_session() as session:
        found = events.recent(session, what, since=window.start, until=window.end, limit=EVENTS_SHOWN)
    rows = []
    for e in found:
        kind, row_id = str(e.kind), int(e.narration_id or 0)  # always set on a stored event
        rows.append(
            {
                "open": links.url(kind, row_id),
                "when": e.at,
                "event": e.label,
                "narration": narration_label(kind, row_id),
                "by": e.by,
                "detail": e.message or "",
            }
        )
    frame = pd.DataFrame(rows, columns=["open", "when", "event", "narration", "by", "detail"])
    return as_text(frame, ["when"], zone(window.tz))
