"""What the pages display, loaded without Streamlit so tests can call it directly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import labels
from db import chunks, events, lexicon, line, redo, reviews
from db.engine import new_session
from db.line import Place
from db.models import Chunk, Image, Narration, StoryAudio, User
from db.narrations import Kind, get, kind_of, story_of, title_of
from db.settings import get_settings
from workers.engine import catalogue
from workers.engine.encoding import PAUSE_SECONDS, encode
from workers.engine.media import RefusedPath
from workers.engine.pronounce import Lexicon
from workers.engine.store import media_store

MIME = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg"}


@dataclass(frozen=True)
class NarrationView:
    """One narration as the player card shows it."""

    kind: str
    row_id: int
    status: str
    provider: str
    model: str
    voice: str | None
    error_message: str | None
    duration_seconds: float | None
    audio_file: str | None
    preview_base64: str | None
    preview_seconds: float
    preview_truncated: bool
    file_ready: bool
    """Whether the full file is in the media store, for the player and download route to serve."""
    file_refused: str | None
    """Why the stored audio path was not opened (it points outside the media folder, say), or None."""
    chunks_done: int
    chunks_total: int
    mime: str
    cancelled_at: datetime | None
    place: Place | None
    """Where a queued narration stands in line; None once it is not queued."""
    redo_passages: tuple[int, ...] = ()
    """Passages (1-based) being narrated again while the row stays completed with its audio."""
    fell_back_from: str | None = None
    """The voice asked for ("openai · tts-1 · nova") when the project's fallback voice narrated it."""

    @property
    def redo_in_flight(self) -> bool:
        return bool(self.redo_passages)

    @property
    def live(self) -> bool:
        """Whether the card should follow changes: the job or a redo of it is still running."""
        return self.pending or self.redo_in_flight

    @property
    def pending(self) -> bool:
        return self.status in ("queued", "processing")


@dataclass(frozen=True)
class FullFile:
    """A narration's whole file as the audio route serves it (`dashboard/audio_route.py`)."""

    name: str | None
    """The stored name, when the row names a file and it is in the media store."""
    size: int
    """Its size in bytes (0 when there is none)."""
    path: Path | None
    """The file on this machine's disk, where the store is MEDIA_ROOT (FileResponse serves it)."""
    refused: str | None
    """Why the stored path was not opened (never quoting it), or None."""
    mime: str
    download_name: str
    """Named after the story or scene, not the stored file's id-and-hash name."""


def _full_file(session: Session, kind: str, row: Narration) -> FullFile:
    """Where the row's file is, checked by `workers.engine.media` and for existence only: it is never read here."""
    name, size, path, refused = None, None, None, None
    if row.audio_file:
        store = media_store()
        try:
            path = store.local_path(row.audio_file, "audio")
            size = path.stat().st_size if path is not None else store.size(row.audio_file, "audio")
        except RefusedPath as refusal:
            refused = refusal.not_done("opened")
        else:
            name = row.audio_file if size is not None else None
    output_format = _format(row)
    return FullFile(
        name=name,
        size=size or 0,
        path=path,
        refused=refused,
        mime=MIME.get(output_format, "audio/wav"),
        download_name=labels.download_name(title_of(session, kind, row.id) or "", kind, row.id, output_format),
    )


def _format(row: Narration) -> str:
    """The file's format as encoded (the metadata), else as asked for."""
    return str((row.audio_metadata or {}).get("format") or row.output_format or "wav")


def full_file(kind: str, row_id: int) -> FullFile | None:
    """The row's whole file for the audio route; None when there is no such row."""
    with new_session() as session:
        row = get(session, kind, row_id)
        return _full_file(session, kind, row) if row is not None else None


def load_view(kind: str, row_id: int) -> NarrationView | None:
    """The row, its preview, and whether its full file is there to play from the audio route. A stored
    path that `workers.engine.media` refuses is not opened; the view says why instead."""
    with new_session() as session:
        row = get(session, kind, row_id)
        if row is None:
            return None
        metadata = row.audio_metadata or {}
        done, total = chunks.progress(session, kind, row_id)
        file = _full_file(session, kind, row)
        return NarrationView(
            kind=kind,
            row_id=row.id,
            status=row.status,
            provider=row.provider,
            model=row.model_backend,
            voice=row.voice_style,
            error_message=row.error_message,
            duration_seconds=row.duration_seconds,
            audio_file=row.audio_file,
            preview_base64=row.base64_audio,
            preview_seconds=float(metadata.get("preview_seconds", row.duration_seconds or 0.0)),
            preview_truncated=bool(metadata.get("preview_truncated", False)),
            file_ready=file.name is not None,
            file_refused=file.refused,
            chunks_done=done,
            chunks_total=total,
            mime=MIME.get(_format(row), "audio/wav"),
            cancelled_at=row.cancelled_at,
            place=line.place(
                session, kind, row_id, dead_after=timedelta(seconds=get_settings().worker_dead_after_seconds)
            ),
            redo_passages=tuple(i + 1 for i in redo.in_flight(session, kind, row_id)) if row.redo_state else (),
            fell_back_from=row.fell_back_from,
        )


@dataclass(frozen=True)
class ChunkLine:
    """One passage of a narration, as the detail view lists it."""

    idx: int
    text: str
    status: str
    seconds: float | None
    provider_calls: int
    characters_billed: int | None
    audio_path: str | None
    sample_rate: int | None
    redo_state: str | None = None
    """The last redo of this passage: queued / processing / done / failed / cancelled, or None."""
    redo_error: str | None = None

    @property
    def state(self) -> str:
        """What the Passages table says: "done", or "done · redo failed: <reason>"."""
        if self.redo_state is None:
            return self.status
        said = f"{self.status} · redo {self.redo_state}"
        return f"{said}: {self.redo_error}" if self.redo_state == "failed" and self.redo_error else said


@dataclass(frozen=True)
class NarrationDetail:
    """Everything the detail view shows besides the player: what, for whom, who, when, what it cost."""

    kind: Kind
    row_id: int
    status: str
    provider: str
    model: str
    voice: str | None
    duration_seconds: float | None
    prompt: str
    subject: str
    """The story's title, or the scene's caption and its story."""
    target_id: int | None
    """The story or image it narrates (None: the story was deleted)."""
    project: str | None
    theme: str | None
    tags: list[str]
    output_format: str
    instructions: str | None
    speed: float | None
    mastering: str | None
    priority: int
    attempts: int
    max_attempts: int
    task_id: str | None
    processed_by: str | None
    created_by: str | None
    updated_by: str | None
    timeline: list[events.Happened]
    cost_usd: float | None
    characters_billed: int
    replaces_id: int | None
    replaced_by_id: int | None
    metadata: dict[str, Any]
    chunks: list[ChunkLine]
    redo_passages: tuple[int, ...] = ()
    """Passages (1-based) of a redo in flight, while the narration stays completed with its audio."""

    @property
    def redo_refusal(self) -> str | None:
        """Why a passage cannot be redone right now (the button is then not offered), or None."""
        if self.status in ("queued", "processing"):
            return f"The narration is {self.status}; a passage can be redone once it has completed or failed."
        if self.redo_passages:
            return (
                f"{labels.passages(self.redo_passages)} being narrated again; wait for it, or cancel that redo, "
                "to redo another."
            )
        return None


_RECORDED_AS = {
    "created": "submitted", "started": "claimed", "cancelled": "cancelled", "completed": "completed", "ended": "failed",
}  # fmt: skip
"""The row's own stamps and the event that records the same moment (the event says more: who, which
worker, which attempt)."""


def _timeline(row: Narration, history: list[events.Happened]) -> list[events.Happened]:
    """The narration's events in the order they happened, with the row's own stamps where no event
    records them (rows from before the history, or written by the Django app), then when anything
    last changed."""
    stamps = [
        ("created", row.created_at),
        ("scheduled for", row.scheduled_at),
        ("started", row.started_at),
        ("cancelled", row.cancelled_at),
        ("completed" if row.status == "completed" else "ended", row.completed_at),
    ]
    recorded = {e.what for e in history}
    stamped = [
        events.Happened(at=when, what=label)
        for label, when in stamps
        if when is not None and _RECORDED_AS.get(label) not in recorded
    ]
    return [*sorted([*stamped, *history], key=lambda e: e.at), events.Happened(at=row.updated_at, what="last changed")]


def _username(session: Session, user_id: int | None) -> str | None:
    return session.scalar(select(User.username).where(User.id == user_id)) if user_id is not None else None


def _replacement(session: Session, row: Narration) -> StoryAudio | None:
    """The newest story narration made to replace this one, if any."""
    if not isinstance(row, StoryAudio):
        return None
    query = select(StoryAudio).where(StoryAudio.replaces_id == row.id).order_by(StoryAudio.id.desc()).limit(1)
    return session.scalars(query).first()


def _subject(session: Session, kind: str, row: Narration) -> tuple[str, str | None, int | None]:
    """What the narration is of (for people), its project's name (its story's: `NarrationKind`),
    and the story or image id."""
    story = story_of(session, kind, row.id)
    project = story.project.name if story and story.project else None
    if isinstance(row, StoryAudio):
        if story is None:
            return "a story that was deleted", None, None
        return f"story “{story.title}” (#{story.id})", project, story.id
    image = session.get(Image, row.image_id)
    if image is None:
        return f"scene image #{row.image_id}", None, row.image_id
    where = f" (in “{story.title}”)" if story else ""
    return f"scene #{image.id}: {image.caption[:80]}{where}", project, image.id


def load_detail(kind: Kind, row_id: int) -> NarrationDetail | None:
    """The detail of one narration; None when it does not exist (deleted, or a bad link)."""
    with new_session() as session:
        row = get(session, kind, row_id)
        if row is None:
            return None
        replacement = _replacement(session, row)
        subject, project, target_id = _subject(session, kind, row)
        lines = [
            ChunkLine(
                c.idx, c.text, c.status, c.seconds, c.provider_calls, c.characters_billed, c.audio_path, c.sample_rate,
                c.redo_state, c.redo_error,
            )
            for c in session.scalars(select(Chunk).where(kind_of(kind).owns(row_id)).order_by(Chunk.idx))
        ]  # fmt: skip
        billed = sum(c.characters_billed or 0 for c in lines)
        model = catalogue.model(row.provider, row.model_backend)
        history = events.of_narration(session, kind, row_id)
        return NarrationDetail(
            kind=kind,
            row_id=row.id,
            status=row.status,
            provider=row.provider,
            model=row.model_backend,
            voice=row.voice_style,
            duration_seconds=row.duration_seconds,
            prompt=row.prompt,
            subject=subject,
            target_id=target_id,
            project=project,
            theme=row.theme,
            tags=list(row.tags or []),
            output_format=row.output_format or "wav",
            instructions=row.instructions,
            speed=row.speed,
            mastering=row.mastering,
            priority=row.priority,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            task_id=row.task_id,
            processed_by=row.processed_by,
            created_by=_username(session, row.created_by_id or row.user_id),
            updated_by=_username(session, row.updated_by_id),
            # The row's own stamps and its events in the order they happened (a retry between the
            # first start and the completion reads there), then when anything last changed.
            timeline=_timeline(row, history),
            cost_usd=catalogue.estimated_cost_usd(model, billed) if model is not None else None,
            characters_billed=billed,
            replaces_id=row.replaces_id if isinstance(row, StoryAudio) else None,
            replaced_by_id=replacement.id if replacement else None,
            metadata=dict(row.audio_metadata or {}),
            chunks=lines,
            redo_passages=tuple(c.idx + 1 for c in lines if c.redo_state in redo.IN_FLIGHT) if row.redo_state else (),
        )


def load_reviews(kind: str, row_id: int) -> tuple[reviews.Standing | None, list[reviews.PastReview]]:
    """Where the narration's review stands, and every review of it, newest first."""
    with new_session() as session:
        return reviews.standing(session, kind, row_id), reviews.history(session, kind, row_id)


def load_lexicon(project_id: int | None) -> Lexicon:
    """The pronunciations a narration of the project is narrated with (compose shows what they change)."""
    with new_session() as session:
        return Lexicon(lexicon.entries(session, project_id))


def load_history(kind: str, row_id: int) -> list[events.Happened]:
    """A narration's events alone: all that is left of one that was deleted."""
    with new_session() as session:
        return events.of_narration(session, kind, row_id)


def starts(detail: NarrationDetail) -> list[float | None]:
    """Where each passage begins in the full file, in seconds. Mastering records it (trimmed edges,
    pauses that follow the text, a head of room tone); a narration finished before mastering existed
    was joined with a fixed pause, so its starts add up from the passages' lengths. None from the
    first passage not narrated yet (its length, and so every later start, is not known)."""
    lines = detail.chunks
    recorded = (detail.metadata.get("mastering") or {}) if isinstance(detail.metadata, dict) else {}
    stored = recorded.get("passage_starts") if isinstance(recorded, dict) else None
    if (
        isinstance(stored, list)
        and len(stored) == len(lines)
        and all(isinstance(s, int | float) and not isinstance(s, bool) and 0 <= s < 1e7 for s in stored)
    ):  # from the database: used only when it is a list of plausible seconds, one per passage
        return [float(s) for s in stored]
    at: float | None = 0.0
    begun: list[float | None] = []
    for passage in lines:
        begun.append(at)
        at = at + passage.seconds + PAUSE_SECONDS if at is not None and passage.seconds is not None else None
    return begun


def passage_audio(line: ChunkLine) -> bytes | None:
    """One passage as a WAV file to hear on its own: while the rest of a long story is still being
    narrated, or before and after fixing it. None until it is narrated (or once its file is gone).
    Raises RefusedPath when the stored path is not a passage file inside the media folder."""
    if line.audio_path is None or line.sample_rate is None:
        return None
    pcm = media_store().read(line.audio_path, "chunk")
    if pcm is None:
        return None
    return encode(np.frombuffer(pcm, dtype="<i2"), line.sample_rate, "wav").data


def thumbnail(stored: str | None) -> bytes | None:
    """A scene image (the Django app's upload, from the folder or the bucket) to show beside its
    caption; None when the row names none or it is missing. Raises RefusedPath when the stored path
    is not an image inside IMAGES_FOLDER."""
    if not stored:
        return None
    return media_store().read(stored, "image")
