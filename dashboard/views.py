"""What the pages display, loaded without Streamlit so tests can call it directly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from db import chunks
from db.engine import new_session
from db.narrations import get
from db.settings import get_settings

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
    file_bytes: bytes | None
    chunks_done: int
    chunks_total: int
    mime: str

    @property
    def pending(self) -> bool:
        return self.status in ("queued", "processing")

    @property
    def file_name(self) -> str | None:
        return Path(self.audio_file).name if self.audio_file else None


def load_view(kind: str, row_id: int) -> NarrationView | None:
    """The row, its preview, and the full file's bytes when it exists under MEDIA_ROOT."""
    with new_session() as session:
        row = get(session, kind, row_id)
        if row is None:
            return None
        metadata = row.audio_metadata or {}
        done, total = chunks.progress(session, kind, row_id)
        file_bytes = None
        if row.audio_file:
            path = get_settings().media_path / row.audio_file
            file_bytes = path.read_bytes() if path.is_file() else None
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
            file_bytes=file_bytes,
            chunks_done=done,
            chunks_total=total,
            mime=MIME.get(str(metadata.get("format", "wav")), "audio/wav"),
        )
