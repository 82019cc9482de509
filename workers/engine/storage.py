"""Where audio files go under MEDIA_ROOT, in the shape Django's FileField expects.

`audio_file` holds a path relative to the media root, at most 100 characters, under `tts/story/`
or `tts/scene/`. Files are written to a temporary name and renamed, so a reader (or Django)
never sees half a file, even if the worker dies mid-write. Every path is checked by
`workers.engine.media.resolve` first: a stored path it refuses is neither written nor deleted.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from workers.engine.media import AUDIO_FOLDERS, MediaKind, RefusedPath, resolve

MAX_NAME = 100  # Django FileField's max_length


def relative_path(kind: str, row_id: int, extension: str) -> str:
    """A fresh relative path for a row's audio; the random part keeps re-narrations apart."""
    path = f"{AUDIO_FOLDERS[kind]}/{kind}-{row_id}-{secrets.token_hex(4)}.{extension}"
    assert len(path) <= MAX_NAME, path
    return path


@dataclass(frozen=True)
class Removal:
    """What `remove` did: how many files it deleted, and the stored paths it refused to touch."""

    removed: int = 0
    refused: list[RefusedPath] = field(default_factory=list)


def remove(media_root: Path, stored: Iterable[tuple[MediaKind, str]]) -> Removal:
    """Delete these stored files (each with its kind) under the media root, skipping refused paths."""
    removed = 0
    refused: list[RefusedPath] = []
    for kind, relative in stored:
        try:
            target = resolve(relative, kind, media_root)
        except RefusedPath as refusal:
            refused.append(refusal)
            continue
        if target.is_file():
            target.unlink()
            removed += 1
    return Removal(removed, refused)


def narration_files(chunk_paths: list[str], own: str | None) -> list[tuple[MediaKind, str]]:
    """A narration's stored files (see `db.chunks.stored_files`), each with the kind it must be."""
    files: list[tuple[MediaKind, str]] = [("chunk", path) for path in chunk_paths]
    return [*files, ("audio", own)] if own else files


def write_atomically(media_root: Path, relative: str, data: bytes, kind: MediaKind, *, durable: bool = True) -> Path:
    """Write to a temporary name, then rename. `durable` also waits for the disk (fsync): the
    narration's own file needs that; a chunk file does not, since a lost one is requested again."""
    target = resolve(relative, kind, media_root)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_of(target)
    with partial.open("wb") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    partial.replace(target)
    return target


def partial_of(target: Path) -> Path:
    """The temporary name a file is written under before it is renamed into place."""
    return target.with_name(f".{target.name}.partial")
