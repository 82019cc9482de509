"""Where audio files go under MEDIA_ROOT, in the shape Django's FileField expects.

`audio_file` holds a path relative to the media root, at most 100 characters, under `tts/story/`
or `tts/scene/`. Files are written to a temporary name and renamed, so a reader (or Django)
never sees half a file, even if the worker dies mid-write.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FOLDERS = {"story": "tts/story", "scene": "tts/scene"}
MAX_NAME = 100  # Django FileField's max_length


def relative_path(kind: str, row_id: int, extension: str) -> str:
    """A fresh relative path for a row's audio; the random part keeps re-narrations apart."""
    path = f"{FOLDERS[kind]}/{kind}-{row_id}-{secrets.token_hex(4)}.{extension}"
    assert len(path) <= MAX_NAME, path
    return path


def remove(media_root: Path, relatives: list[str]) -> int:
    """Delete these files under the media root; returns how many existed."""
    removed = 0
    for relative in relatives:
        target = media_root / relative
        if target.is_file():
            target.unlink()
            removed += 1
    return removed


def write_atomically(media_root: Path, relative: str, data: bytes, *, durable: bool = True) -> Path:
    """Write to a temporary name, then rename. `durable` also waits for the disk (fsync): the
    narration's own file needs that; a chunk file does not, since a lost one is requested again."""
    target = media_root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    with partial.open("wb") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    partial.replace(target)
    return target
