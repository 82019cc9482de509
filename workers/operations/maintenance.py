"""Keeping the pipeline tidy: stuck jobs, old failures, storage, oversized previews, old alert history.

Runs hourly inside the workers (one of them, under a Redis lock: workers/operations/housekeeping.py)
and on demand with `narration-desk maintenance`; every run's report is stored in `tts_maintenance_run` and printed.
Audio is deleted in this order when storage is over quota: files no row points to any more
(superseded re-narrations), then the chunk files of completed narrations, oldest first. The only
audio of a completed narration is never deleted; the report says so when that is all that is left.

Rows come from a database the Django app shares, so each row is handled on its own (in a savepoint):
a stored path `workers.engine.media` refuses is left untouched and listed under `refused_paths`, a preview
that cannot be re-cut is kept and listed under `previews_kept`, and any other failure of one row or
one step is listed under `errors` while the run goes on.
"""

from __future__ import annotations

import io
import logging
import posixpath
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import soundfile
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from db import alert_log, chunks, events
from db.engine import new_session
from db.models import Chunk, MaintenanceRun, Status
from db.narrations import KINDS, MODELS, kind_of, now
from db.settings import Settings, get_settings
from workers.engine import storage
from workers.engine.encoding import encode, preview
from workers.engine.media import AUDIO_FOLDERS, CHUNK_FOLDER, MediaKind, RefusedPath
from workers.engine.store import MediaStore, StoredFile, media_store

log = logging.getLogger(__name__)

STUCK_GRACE = timedelta(minutes=5)
"""Beyond the job timeout, how long a `processing` row may sit before it counts as stuck."""
ALERT_HISTORY_KEPT = timedelta(days=365)
"""Alert spans that ended longer ago than this are deleted (a flapping alert adds a row a minute)."""


@dataclass
class _Trouble:
    """What one run could not do, row by row; it goes into the report."""

    refused_paths: list[str] = field(default_factory=list)
    previews_kept: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def refused(self, where: str, refusal: RefusedPath) -> None:
        self.refused_paths.append(f"{where} {refusal.stored!r} {refusal.reason}; it was left untouched.")

    @contextmanager
    def row(self, session: Session, where: str) -> Iterator[None]:
        """One row's work in a savepoint: if it fails, only that row's changes are undone."""
        try:
            with session.begin_nested():
                yield
        except Exception as error:  # one bad row must not stop the others
            log.exception("maintenance: %s failed", where)
            self.errors.append(f"{where}: {type(error).__name__}: {error}")


def _files(store: MediaStore, trouble: _Trouble) -> Iterator[tuple[MediaKind, StoredFile]]:
    """Every audio and chunk file in the store, with its kind. A file the store's checks refuse (a
    symbolic link out, a stray extension) is listed and skipped; a file a worker died writing
    (.name.partial) is checked as the file it was to become."""
    folders: list[tuple[str, MediaKind]] = [*((f, "audio") for f in AUDIO_FOLDERS.values()), (CHUNK_FOLDER, "chunk")]
    for folder, kind in folders:
        for found in store.listing(folder):
            try:
                store.check(found.name, kind)
            except RefusedPath as refusal:
                trouble.refused("file", refusal)
                continue
            yield kind, found


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


def _expire_failed(session: Session, settings: Settings, trouble: _Trouble) -> dict[str, int]:
    """Delete the audio and chunks of failures older than the retention period; keep the rows. A
    refused path stays in its row (and on disk), so the row's card and the next report still show it."""
    cutoff = now() - timedelta(days=settings.failed_retention_days)
    rows = files = 0
    for kind, model in MODELS.items():
        old = session.scalars(select(model.id).where(model.status == Status.FAILED, model.updated_at < cutoff)).all()
        for row_id in old:
            with trouble.row(session, f"{kind} #{row_id}"):
                chunk_paths, own = chunks.stored_files(session, kind, row_id)
                has_preview = session.scalar(select(model.base64_audio.is_not(None)).where(model.id == row_id))
                removal = storage.remove(media_store(), storage.narration_files(chunk_paths, own))
                refused = {r.stored for r in removal.refused}
                for refusal in removal.refused:
                    column = "audio_file" if refusal.noun == "audio" else "chunk audio_path"
                    trouble.refused(f"{kind} #{row_id} {column}", refusal)
                cleared = [p for p in chunk_paths if p not in refused]
                if not cleared and not has_preview and (not own or own in refused):
                    continue
                session.execute(
                    delete(Chunk).where(
                        kind_of(kind).owns(row_id), Chunk.audio_path.is_(None) | Chunk.audio_path.not_in(refused)
                    )
                )
                values = {"base64_audio": None} if own in refused else {"base64_audio": None, "audio_file": None}
                session.execute(update(model).where(model.id == row_id).values(**values))
                files += removal.removed
                rows += 1
    session.commit()
    return {"failed_rows_cleaned": rows, "failed_files_deleted": files}


def _referenced(session: Session) -> set[str]:
    paths: set[str] = set()
    for model in MODELS.values():
        paths.update(str(p) for p in session.scalars(select(model.audio_file).where(model.audio_file.is_not(None))))
    paths.update(str(p) for p in session.scalars(select(Chunk.audio_path).where(Chunk.audio_path.is_not(None))))
    # A redo's new passage waits beside the old one until it is swapped in: not an orphan.
    waiting = select(Chunk.redo_audio_path).where(Chunk.redo_audio_path.is_not(None))
    paths.update(str(p) for p in session.scalars(waiting))
    # A listing spells `a//b` as `a/b`: a row that names its file the other way still keeps it.
    return {posixpath.normpath(p) for p in paths}


def _completed_chunk_files(session: Session) -> list[tuple[str, int]]:
    """Chunk files of completed narrations, oldest narration first: (relative path, chunk id). A
    narration with a redo in flight keeps its chunks: the redo re-joins them."""
    found: list[tuple[str, int, datetime]] = []
    for kind in KINDS.values():
        model = kind.model
        query = (
            select(Chunk.audio_path, Chunk.id, model.completed_at)
            .join(model, model.id == kind.chunk_owner)
            .where(model.status == Status.COMPLETED, model.redo_state.is_(None), Chunk.audio_path.is_not(None))
        )
        found += [(str(path), chunk_id, completed or now()) for path, chunk_id, completed in session.execute(query)]
    return [(path, chunk_id) for path, chunk_id, _ in sorted(found, key=lambda r: r[2])]


def _enforce_quota(session: Session, settings: Settings, trouble: _Trouble) -> dict[str, Any]:
    store = media_store()
    # one walk of the folder or listing of the bucket; a partial file is keyed apart from its target
    sizes = {(found.name, found.partial): (kind, found) for kind, found in _files(store, trouble)}
    used = sum(found.size for _, found in sizes.values())
    report: dict[str, Any] = {"bytes_used_before": used, "quota_bytes": settings.storage_quota_bytes}
    freed = 0
    if used > settings.storage_quota_bytes:
        referenced = _referenced(session)
        orphans = sorted((p for p in sizes if p[1] or p[0] not in referenced), key=lambda p: sizes[p][1].modified)
        for name, partial in orphans:
            if used - freed <= settings.storage_quota_bytes:
                break
            kind, found = sizes[(name, partial)]
            with trouble.row(session, f"file {name!r}"):
                store.delete(name, kind, partial=partial)
                freed += found.size
        for relative, chunk_id in _completed_chunk_files(session):
            if used - freed <= settings.storage_quota_bytes:
                break
            with trouble.row(session, f"chunk #{chunk_id}"):
                try:
                    store.delete(relative, "chunk")
                except RefusedPath as refusal:
                    trouble.refused(f"chunk #{chunk_id} audio_path", refusal)
                    continue
                listed = sizes.get((posixpath.normpath(relative), False))
                freed += listed[1].size if listed else 0
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
    store.prune_empty(CHUNK_FOLDER)
    return report


def _recut(name: str, data: bytes, max_bytes: int) -> str:
    """A preview of at most `max_bytes` cut from the narration's file (raises if it cannot be read)."""
    samples, rate = soundfile.read(io.BytesIO(data), dtype="int16")
    fmt = PurePosixPath(name).suffix.lstrip(".")
    full = encode(np.asarray(samples), int(rate), fmt)
    return preview(np.asarray(samples), int(rate), fmt, full, max_bytes).base64


def _shrink_previews(session: Session, settings: Settings, trouble: _Trouble) -> int:
    """Re-cut previews larger than PREVIEW_MAX_BYTES (written before the limit, or by another tool).
    One that cannot be re-cut (no file, a refused path, a file that is not audio) is kept as it is:
    a large preview is better than none."""
    shrunk = 0
    for kind, model in MODELS.items():
        rows = session.execute(
            select(model.id, model.audio_file).where(func.length(model.base64_audio) > settings.preview_max_bytes)
        ).all()
        for row_id, audio_file in rows:
            where = f"{kind} #{row_id}"
            kept = f"{where}: the preview was kept as it is"
            try:
                data = media_store().read(audio_file, "audio")
            except RefusedPath as refusal:
                if audio_file:
                    trouble.refused(f"{where} audio_file", refusal)
                trouble.previews_kept.append(f"{kept}: {refusal}")
                continue
            if data is None:
                trouble.previews_kept.append(f"{kept}: its audio file is missing from the media folder.")
                continue
            try:
                shown = _recut(str(audio_file), data, settings.preview_max_bytes)
            except Exception as error:  # a corrupt file must not stop the others
                log.warning("maintenance: %s: preview not re-cut (%s)", where, error)
                trouble.previews_kept.append(f"{kept}: its audio file could not be read ({type(error).__name__}).")
                continue
            with trouble.row(session, where):
                session.execute(update(model).where(model.id == row_id).values(base64_audio=shown))
                shrunk += 1
    session.commit()
    return shrunk


def _step(session: Session, trouble: _Trouble, name: str, default: Any, work: Callable[[], Any]) -> Any:
    """Run one step; if it fails as a whole, undo what it left half-done, note why, and go on."""
    try:
        return work()
    except Exception as error:  # one step's failure must not stop the others
        session.rollback()
        log.exception("maintenance: %s failed", name)
        trouble.errors.append(f"{name}: {type(error).__name__}: {error}")
        return default


def run_maintenance(trigger: str) -> dict[str, Any]:
    """Do every maintenance step once, store the report, and return it."""
    settings = get_settings()
    started = now()
    trouble = _Trouble()
    with new_session() as session:

        def step(name: str, default: Any, work: Callable[[], Any]) -> Any:
            return _step(session, trouble, name, default, work)

        report: dict[str, Any] = {"stuck": step("stuck jobs", [], lambda: _requeue_stuck(session, settings))}
        report.update(
            step(
                "old failures",
                {"failed_rows_cleaned": 0, "failed_files_deleted": 0},
                lambda: _expire_failed(session, settings, trouble),
            )
        )
        report["previews_shrunk"] = step("previews", 0, lambda: _shrink_previews(session, settings, trouble))
        report["storage"] = step("storage quota", {}, lambda: _enforce_quota(session, settings, trouble))
        report["alert_spans_pruned"] = step(
            "alert history", 0, lambda: alert_log.prune(session, started - ALERT_HISTORY_KEPT)
        )
        report["events_pruned"] = step(
            "event history",
            0,
            lambda: events.prune(session, started - timedelta(days=settings.event_retention_days)),
        )
        report.update(refused_paths=trouble.refused_paths, previews_kept=trouble.previews_kept, errors=trouble.errors)
        session.add(MaintenanceRun(started_at=started, finished_at=now(), trigger=trigger, report=report))
        session.commit()
    log.info("maintenance (%s): %s", trigger, report)
    return report
