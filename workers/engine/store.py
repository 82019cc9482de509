"""Where media files live: folders under MEDIA_ROOT, or an S3-compatible bucket (STORAGE_URL).

Every read, write and delete of an audio, passage, image or sample file goes through a `MediaStore`,
and every one of its methods checks the stored name first (`workers.engine.media`): a refused name
is never opened, written, requested or deleted. Both backends keep writes atomic for readers: the
folder writes a temporary file and renames it; an S3 PUT is atomic by itself (a reader gets the old
object or the new one, never half).

Object keys are exactly those django-storages' `S3Storage` uses for a FileField name under its
`location` (`storages.utils.safe_join(location, clean_name(name))`), so the Django app reads what the
workers wrote and the workers read what it wrote: `STORAGE_URL=s3://bucket/media` and a row's
`tts/story/story-1-abcd.mp3` are the object `media/tts/story/story-1-abcd.mp3`, which that app finds
with `AWS_STORAGE_BUCKET_NAME="bucket"` and `AWS_LOCATION="media"`.

Credentials, endpoint and region come from the standard AWS variables (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL[_S3], AWS_REGION / AWS_DEFAULT_REGION), read by `obstore`
(Rust's object_store) when the store is made: Narration Desk never holds, logs or shows them.
"""

from __future__ import annotations

import os
import posixpath
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import obstore
from obstore.store import S3Store

from db.settings import get_settings
from workers.engine.media import MediaKind, check, resolve

STREAM_CHUNK_BYTES = 1024 * 1024
"""How much of an object the playback route holds at once while it passes the object on."""


@dataclass(frozen=True)
class StoredFile:
    """One file found under a folder: its name as a row would store it, size, and age."""

    name: str
    size: int
    modified: float
    """Seconds since the epoch."""
    partial: bool = False
    """A local file a worker died writing (`.name.partial`); `name` is the file it was to become."""


class MediaStore(ABC):
    """The operations the pipeline needs on media files, by stored (relative) name and kind."""

    where: str
    """Where the files are, for messages: a folder, or `s3://bucket/prefix` (never a credential)."""

    def check(self, name: str | None, kind: MediaKind) -> None:
        """Refuse (RefusedPath) a name no read, write or delete of this store may use."""
        check(name, kind)

    @abstractmethod
    def write(self, name: str, data: bytes, kind: MediaKind, *, durable: bool = True) -> None:
        """Store `data` under `name`, atomically for readers. `durable` waits for the disk where
        there is one (a narration's own file needs that; a passage, requested again if lost, does not)."""

    @abstractmethod
    def read(self, name: str | None, kind: MediaKind) -> bytes | None:
        """The file's bytes, or None when it is not there. Raises RefusedPath."""

    @abstractmethod
    def size(self, name: str | None, kind: MediaKind) -> int | None:
        """The file's size in bytes, or None when it is not there. Raises RefusedPath."""

    @abstractmethod
    def delete(self, name: str | None, kind: MediaKind, *, partial: bool = False) -> bool:
        """Delete the file (or, with `partial`, the temporary file it was being written as); whether
        there was one. Raises RefusedPath."""

    @abstractmethod
    def listing(self, folder: str) -> Iterator[StoredFile]:
        """Every file under `folder` (a media folder such as `tts/chunks`), names not yet checked."""

    @abstractmethod
    def used_bytes(self) -> int:
        """Bytes of every file the store holds (what counts against STORAGE_QUOTA_BYTES)."""

    def local_path(self, name: str | None, kind: MediaKind) -> Path | None:
        """The file on this machine's disk, for a backend that has one (else None). Raises RefusedPath."""
        return None

    @abstractmethod
    def ping(self) -> None:
        """Raise unless the store answers (checked at start-up)."""

    @abstractmethod
    def prune_empty(self, folder: str) -> None:
        """Remove the empty folders directly under `folder`, left by deleted narrations' passages."""

    @abstractmethod
    def stream(self, name: str, kind: MediaKind, start: int, end: int) -> Iterator[bytes]:
        """Bytes `start` to `end` (exclusive) of a file known to hold them, in pieces of about
        STREAM_CHUNK_BYTES, so an hour of audio never sits in memory whole. Raises RefusedPath."""


def partial_of(target: Path) -> Path:
    """The temporary name a local file is written under before it is renamed into place."""
    return target.with_name(f".{target.name}.partial")


class LocalStore(MediaStore):
    """Files under a folder (MEDIA_ROOT), as before: symbolic links are checked too (`resolve`)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.where = str(self.root)

    def check(self, name: str | None, kind: MediaKind) -> None:
        resolve(name, kind, self.root)

    def write(self, name: str, data: bytes, kind: MediaKind, *, durable: bool = True) -> None:
        target = resolve(name, kind, self.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = partial_of(target)
        with partial.open("wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        partial.replace(target)

    def local_path(self, name: str | None, kind: MediaKind) -> Path | None:
        path = resolve(name, kind, self.root)
        return path if path.is_file() else None

    def read(self, name: str | None, kind: MediaKind) -> bytes | None:
        path = self.local_path(name, kind)
        return path.read_bytes() if path is not None else None

    def size(self, name: str | None, kind: MediaKind) -> int | None:
        path = self.local_path(name, kind)
        return path.stat().st_size if path is not None else None

    def stream(self, name: str, kind: MediaKind, start: int, end: int) -> Iterator[bytes]:
        with resolve(name, kind, self.root).open("rb") as handle:
            handle.seek(start)
            while (left := end - handle.tell()) > 0 and (piece := handle.read(min(left, STREAM_CHUNK_BYTES))):
                yield piece

    def delete(self, name: str | None, kind: MediaKind, *, partial: bool = False) -> bool:
        target = resolve(name, kind, self.root)
        target = partial_of(target) if partial else target
        if not target.is_file():
            return False
        target.unlink(missing_ok=True)
        return True

    def ping(self) -> None:
        return None  # a folder on this machine: MEDIA_ROOT is created as it is written to

    def prune_empty(self, folder: str) -> None:
        top = self.root / folder
        for found in top.glob("*") if top.is_dir() and not top.is_symlink() else ():
            if found.is_dir() and not found.is_symlink() and not any(found.iterdir()):
                found.rmdir()

    def listing(self, folder: str) -> Iterator[StoredFile]:
        top = self.root / folder
        if not top.is_dir():
            return
        for found in top.rglob("*"):
            if found.is_dir() and not found.is_symlink():
                continue
            try:
                stat = found.stat()
            except OSError:  # deleted meanwhile, or a broken link: its name is still listed, unsized
                stat = None
            name = found.name
            partial = name.startswith(".") and name.endswith(".partial")
            meant = found.with_name(name[1 : -len(".partial")]) if partial else found
            yield StoredFile(
                str(meant.relative_to(self.root)),
                stat.st_size if stat else 0,
                stat.st_mtime if stat else 0.0,
                partial,
            )

    def used_bytes(self) -> int:
        total = 0
        for folder, _, files in os.walk(self.root):
            for name in files:
                try:
                    total += os.stat(os.path.join(folder, name)).st_size
                except FileNotFoundError:  # deleted by maintenance while we walked
                    continue
        return total


def object_key(location: str, name: str) -> str:
    """The key django-storages' S3Storage gives FileField `name` under `location` (its `safe_join` of
    `clean_name`), for a name `check` has passed: no `..`, not absolute, no backslash."""
    base = location.rstrip("/")
    return f"{base}/{posixpath.normpath(name)}".lstrip("/")


def _endpoint() -> str:
    """The endpoint named by the standard variables (the S3-specific one first), or empty for AWS."""
    for variable in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"):
        if os.environ.get(variable):
            return os.environ[variable]
    return ""


class ObjectStore(MediaStore):
    """Objects in an S3-compatible bucket under a prefix (django-storages' `location`).

    The playback route streams objects through the dashboard, answering Range with ranged GETs,
    rather than redirecting to a presigned URL: the bucket stays private, staff need to reach only
    the dashboard's address (often the one thing a firewall lets them reach), and the session
    cookie check stays the only way in. The cost is that the bytes pass through the dashboard."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.bucket = parts.netloc
        self.location = parts.path.lstrip("/")
        self.where = f"s3://{self.bucket}/{self.location}".rstrip("/")
        allow_http = _endpoint().startswith("http://")
        self.client = S3Store(self.bucket, client_options={"allow_http": allow_http})
        self.quick = S3Store(
            self.bucket,
            client_options={"allow_http": allow_http, "timeout": timedelta(seconds=5)},
            retry_config={"max_retries": 1, "retry_timeout": timedelta(seconds=10)},
        )
        """The same bucket for `ping`, which must answer within seconds, not after minutes of retries."""

    def ping(self) -> None:
        """List one object: raises (obstore's errors, or a timeout) unless the bucket answers and
        the credentials may read it."""
        next(iter(obstore.list(self.quick, prefix=self.location.rstrip("/") or None, chunk_size=1)), None)

    def prune_empty(self, folder: str) -> None:
        return None  # a bucket has no folders, only keys

    def key(self, name: str | None, kind: MediaKind) -> str:
        """The checked name's object key. Raises RefusedPath."""
        return object_key(self.location, check(name, kind))

    def write(self, name: str, data: bytes, kind: MediaKind, *, durable: bool = True) -> None:
        obstore.put(self.client, self.key(name, kind), data)

    def read(self, name: str | None, kind: MediaKind) -> bytes | None:
        key = self.key(name, kind)
        try:
            return bytes(obstore.get(self.client, key).bytes())
        except FileNotFoundError:
            return None

    def size(self, name: str | None, kind: MediaKind) -> int | None:
        key = self.key(name, kind)
        try:
            return int(obstore.head(self.client, key)["size"])
        except FileNotFoundError:
            return None

    def delete(self, name: str | None, kind: MediaKind, *, partial: bool = False) -> bool:
        if partial:  # an object is never half-written
            return False
        key = self.key(name, kind)
        try:
            obstore.head(self.client, key)
        except FileNotFoundError:
            return False
        obstore.delete(self.client, key)
        return True

    def listing(self, folder: str) -> Iterator[StoredFile]:
        prefix = object_key(self.location, folder)
        skip = len(object_key(self.location, "x")) - 1  # the location and its slash
        for batch in obstore.list(self.client, prefix=prefix):
            for meta in batch:
                yield StoredFile(meta["path"][skip:], int(meta["size"]), meta["last_modified"].timestamp())

    def used_bytes(self) -> int:
        prefix = self.location.rstrip("/") or None
        return sum(int(meta["size"]) for batch in obstore.list(self.client, prefix=prefix) for meta in batch)

    def stream(self, name: str, kind: MediaKind, start: int, end: int) -> Iterator[bytes]:
        result = obstore.get(self.client, self.key(name, kind), options={"range": (start, end)})
        yield from result.stream(min_chunk_size=STREAM_CHUNK_BYTES)


@lru_cache(maxsize=8)
def _store_for(url: str | None, root: Path, process: int) -> MediaStore:
    """One store per setting and process (an S3 client holds connections a forked child must not share)."""
    return ObjectStore(url) if url and url.startswith("s3://") else LocalStore(root)


def media_store() -> MediaStore:
    """The store STORAGE_URL names (MEDIA_ROOT when it is unset or `file:`)."""
    settings = get_settings()
    return _store_for(settings.storage_url, settings.media_path, os.getpid())
