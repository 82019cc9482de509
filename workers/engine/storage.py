"""Names of audio files in the shape Django's FileField expects, and deleting a narration's files.

`audio_file` holds a path relative to the media root (or the bucket's prefix), at most 100
characters, under `tts/story/` or `tts/scene/`. Files are written through the media store
(`workers.engine.store`), which keeps writes atomic for readers and checks every path first: a
stored path `workers.engine.media` refuses is neither written nor deleted.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from workers.engine.media import AUDIO_FOLDERS, MediaKind, RefusedPath
from workers.engine.store import MediaStore

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


def remove(store: MediaStore, stored: Iterable[tuple[MediaKind, str]]) -> Removal:
    """Delete these stored files (each with its kind) from the store, skipping refused paths."""
    removed = 0
    refused: list[RefusedPath] = []
    for kind, relative in stored:
        try:
            removed += store.delete(relative, kind)
        except RefusedPath as refusal:
            refused.append(refusal)
    return Removal(removed, refused)


def narration_files(chunk_paths: list[str], own: str | None) -> list[tuple[MediaKind, str]]:
    """A narration's stored files (see `db.chunks.stored_files`), each with the kind it must be."""
    files: list[tuple[MediaKind, str]] = [("chunk", path) for path in chunk_paths]
    return [*files, ("audio", own)] if own else files
