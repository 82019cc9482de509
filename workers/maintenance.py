"""Keeping the pipeline tidy: stuck jobs, old failures, storage, oversized previews, old alert history.

Runs hourly inside the workers (one of them, under a Redis lock) and on demand with
`narration-desk maintenance`; every run's report is stored in `tts_maintenance_run` and printed.
Audio is deleted in this order when storage is over quota: files no row points to any more
(superseded re-narrations), then the chunk files of completed narrations, oldest first. The only
audio of a completed narration is never deleted; the report says so when that is all that is left.
"""

from __future__ import annotations

import io
import logging
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from db import alert_log, chunks
from db.engine import new_session
from db.models import Chunk, MaintenanceRun, Status
from db.narrations import MODELS, now
from db.settings import Settings, get_settings
from workers import storage
from workers.encoding import encode, preview

log = logging.getLogger(__name__)

STUCK_GRACE = timedelta(minutes=5)
"""Beyond the job timeout, how long a `processing` row may sit before it counts as stuck."""
ALERT_HISTORY_KEPT = timedelta(days=365)
"""Alert spans that ended longer ago than this are deleted (a flapping alert adds a row a minute)."""


def _files(root: Path) -> Iterator[Path]:
    for folder in ("tts/story", "tts/scene", "tts/chunks"):
        if (root / folder).is_dir():
            yield from (p for p in (root / folder).rglob("*") if p.is_file())


def _requeue_stuck(session: Session, settings: Settings) -> list[str]:
    """Rows `processing` far past the job timeout (a hung worker): retried, or failed when out of attempts."""
    cutoff = now() - timedelta(seconds=settings.job_timeout_seconds) - STUCK_GRACE
    touched: list[str] = []
    for kind, model in MODELS.items():
        stuck = (model.status == Status.PROCESSING, model.started_at < cutoff)
        failed = session.execute(
            update(model)
            .where(*stuck, model.attempts >= model.max_attempts)
            .values(
                status=Status.FAILED,
                completed_at=now(),
                updated_at=now(),
                error_message="Stuck in processing past the job timeout on its last attempt. Retry it.",
            )
            .returning(model.id)
        ).scalars()
        touched += [f"{kind} #{i} failed" for i in failed]
        requeued = session.execute(
            update(model)
            .where(*stuck)
            .values(
                status=Status.QUEUED,
                task_id=None,
                updated_at=now(),
                error_message="Stuck in processing past the job timeout; requeued.",
            )
            .returning(model.id)
        ).scalars()
        touched += [f"{kind} #{i} requeued" for i in requeued]
    session.commit()
    return touched


def _expire_failed(session: Session, settings: Settings) -> dict[str, int]:
    """Delete the audio and chunks of failures older than the retention period; keep the rows."""
    cutoff = now() - timedelta(days=settings.failed_retention_days)
    rows = files = 0
    for kind, model in MODELS.items():
        old = session.scalars(select(model.id).where(model.status == Status.FAILED, model.updated_at < cutoff)).all()
        for row_id in old:
            paths = chunks.audio_paths(session, kind, row_id)
            has_preview = session.scalar(select(model.base64_audio.is_not(None)).where(model.id == row_id))
            if not paths and not has_preview:
                continue
            files += storage.remove(settings.media_path, paths)
            session.execute(delete(Chunk).where(chunks.owned_by(kind, row_id)))
            session.execute(update(model).where(model.id == row_id).values(base64_audio=None, audio_file=None))
            rows += 1
    session.commit()
    return {"failed_rows_cleaned": rows, "failed_files_deleted": files}


def _referenced(session: Session) -> set[str]:
    paths: set[str] = set()
    for model in MODELS.values():
        paths.update(str(p) for p in session.scalars(select(model.audio_file).where(model.audio_file.is_not(None))))
    paths.update(str(p) for p in session.scalars(select(Chunk.audio_path).where(Chunk.audio_path.is_not(None))))
    return paths


def _completed_chunk_files(session: Session) -> list[tuple[str, int]]:
    """Chunk files of completed narrations, oldest narration first: (relative path, chunk id)."""
    found: list[tuple[str, int, datetime]] = []
    for kind, model in MODELS.items():
        owner = Chunk.story_audio_id if kind == "story" else Chunk.scene_audio_id
        query = (
            select(Chunk.audio_path, Chunk.id, model.completed_at)
            .join(model, model.id == owner)
            .where(model.status == Status.COMPLETED, Chunk.audio_path.is_not(None))
        )
        found += [(str(path), chunk_id, completed or now()) for path, chunk_id, completed in session.execute(query)]
    return [(path, chunk_id) for path, chunk_id, _ in sorted(found, key=lambda r: r[2])]


def _enforce_quota(session: Session, settings: Settings) -> dict[str, Any]:
    root = settings.media_path
    sizes = {str(p.relative_to(root)): p.stat() for p in _files(root)}  # one walk of the folder
    used = sum(s.st_size for s in sizes.values())
    report: dict[str, Any] = {"bytes_used_before": used, "quota_bytes": settings.storage_quota_bytes}
    freed = 0
    if used > settings.storage_quota_bytes:
        referenced = _referenced(session)
        orphans = sorted((p for p in sizes if p not in referenced), key=lambda p: sizes[p].st_mtime)
        for relative in orphans:
            if used - freed <= settings.storage_quota_bytes:
                break
            freed += sizes[relative].st_size
            (root / relative).unlink()
        for relative, chunk_id in _completed_chunk_files(session):
            if used - freed <= settings.storage_quota_bytes:
                break
            if relative in sizes:
                freed += sizes[relative].st_size
                (root / relative).unlink()
            session.execute(delete(Chunk).where(Chunk.id == chunk_id))
        session.commit()
    report["bytes_freed"] = freed
    report["bytes_used_after"] = used - freed
    if used - freed > settings.storage_quota_bytes:
        report["warning"] = (
            f"Still {used - freed - settings.storage_quota_bytes:,} bytes over the quota: what is left is the only "
            "audio of completed narrations, which maintenance never deletes. Raise STORAGE_QUOTA_BYTES or delete "
            "narrations you no longer need."
        )
    for folder in (root / "tts/chunks").glob("*") if (root / "tts/chunks").is_dir() else ():
        if folder.is_dir() and not any(folder.iterdir()):
            shutil.rmtree(folder)
    return report


def _shrink_previews(session: Session, settings: Settings) -> int:
    """Re-cut previews larger than PREVIEW_MAX_BYTES (written before the limit, or by another tool)."""
    shrunk = 0
    for model in MODELS.values():
        rows = session.execute(
            select(model.id, model.audio_file).where(func.length(model.base64_audio) > settings.preview_max_bytes)
        ).all()
        for row_id, audio_file in rows:
            path = settings.media_path / str(audio_file) if audio_file else None
            if path is None or not path.is_file():
                session.execute(update(model).where(model.id == row_id).values(base64_audio=None))
            else:
                samples, rate = soundfile.read(io.BytesIO(path.read_bytes()), dtype="int16")
                fmt = path.suffix.lstrip(".")
                full = encode(np.asarray(samples), int(rate), fmt)
                shown = preview(np.asarray(samples), int(rate), fmt, full, settings.preview_max_bytes)
                session.execute(update(model).where(model.id == row_id).values(base64_audio=shown.base64))
            shrunk += 1
    session.commit()
    return shrunk


def run_maintenance(trigger: str) -> dict[str, Any]:
    """Do every maintenance step once, store the report, and return it."""
    settings = get_settings()
    started = now()
    with new_session() as session:
        report: dict[str, Any] = {"stuck": _requeue_stuck(session, settings)}
        report.update(_expire_failed(session, settings))
        report["previews_shrunk"] = _shrink_previews(session, settings)
        report["storage"] = _enforce_quota(session, settings)
        report["alert_spans_pruned"] = alert_log.prune(session, started - ALERT_HISTORY_KEPT)
        session.add(MaintenanceRun(started_at=started, finished_at=now(), trigger=trigger, report=report))
        session.commit()
    log.info("maintenance (%s): %s", trigger, report)
    return report
