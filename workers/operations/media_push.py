"""Moving an existing MEDIA_ROOT into the bucket STORAGE_URL names: `narration-desk media push`.

Copies every audio, passage and voice-sample file from the local folder to the bucket under the key
django-storages would give it, so rows keep their `audio_file` as it is and the Django app finds the
same files. It can be run again (and again after a partial run): a file already in the bucket with
the same size is skipped. Each name is checked like any other stored path (`workers.engine.media`):
a file the checks refuse (a symbolic link out, a stray extension) is listed and never read.
Nothing is deleted from the folder; delete it once the desk runs on the bucket.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from db.settings import get_settings
from workers.engine.media import AUDIO_FOLDERS, CHUNK_FOLDER, SAMPLE_FOLDER, MediaKind, RefusedPath
from workers.engine.store import LocalStore, MediaStore, ObjectStore, media_store

FOLDERS: list[tuple[str, MediaKind]] = [
    *((folder, "audio") for folder in AUDIO_FOLDERS.values()),
    (CHUNK_FOLDER, "chunk"),
    (SAMPLE_FOLDER, "sample"),
]
"""What is pushed: the desk's own files (scene images are the Django app's to move)."""


class PushRefused(ValueError):
    """There is nothing to push to: STORAGE_URL does not name a bucket."""


@dataclass
class Pushed:
    """What one push did."""

    copied: int = 0
    copied_bytes: int = 0
    already_there: int = 0
    refused: list[str] = field(default_factory=list)


def push(source: LocalStore, target: MediaStore) -> Pushed:
    """Copy the folder's media files into `target`, skipping refused names and files already there."""
    done = Pushed()
    for folder, kind in FOLDERS:
        for found in source.listing(folder):
            if found.partial:  # a file a worker died writing: never a row's
                continue
            try:
                data = source.read(found.name, kind)
                if data is None:
                    continue
                if target.size(found.name, kind) == len(data):
                    done.already_there += 1
                    continue
                target.write(found.name, data, kind)
            except RefusedPath as refusal:
                done.refused.append(f"{refusal.stored!r} {refusal.reason}; it was not copied.")
                continue
            done.copied += 1
            done.copied_bytes += len(data)
    return done


def push_media_root() -> tuple[str, Pushed]:
    """Push MEDIA_ROOT into the bucket in force: (the bucket's address, what was done). Raises PushRefused."""
    target = media_store()
    if not isinstance(target, ObjectStore):
        raise PushRefused(
            "STORAGE_URL does not name a bucket, so files already live under MEDIA_ROOT. "
            "Set STORAGE_URL=s3://bucket/prefix (and the AWS_* variables), then push."
        )
    return target.where, push(LocalStore(get_settings().media_path), target)


def audio_left_behind() -> str | None:
    """A one-line hint when STORAGE_URL names a bucket but MEDIA_ROOT still holds narration audio."""
    if not isinstance(media_store(), ObjectStore):
        return None
    folder = LocalStore(get_settings().media_path)
    if not any(not f.partial for name in AUDIO_FOLDERS.values() for f in folder.listing(name)):
        return None
    return (
        f"MEDIA_ROOT ({folder.where}) still holds narration audio while STORAGE_URL names a bucket: "
        "copy it there with `narration-desk media push`."
    )
