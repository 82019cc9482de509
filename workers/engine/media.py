"""Stored media paths, checked before any file is read, written or deleted.

`audio_file`, `tts_chunk.audio_path` and `images_image.image` live in a database the customer-facing
Django app shares, so a row may name any path at all: `../x`, `/proc/self/environ`, a symbolic link
planted in a media folder. `check` holds the rules every stored path must pass, and `resolve` is the
one place that turns a checked path into a file under MEDIA_ROOT (following symbolic links); every
open, existence check, write and delete asks one of them first (through `workers.engine.store`, which
uses `check` alone for a bucket's keys), and a path they refuse is left alone (never opened, never
requested, never deleted) with a sentence saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from db.narrations import KINDS
from db.settings import get_settings
from workers.engine.catalogue import OUTPUT_FORMATS

MediaKind = Literal["audio", "chunk", "image", "sample"]
"""What a stored path is for: a narration's file, one passage's PCM, a scene image, a voice sample."""

AUDIO_FOLDERS = {name: kind.folder for name, kind in KINDS.items()}
"""Where each kind of narration's file lives (`NarrationKind.folder`)."""
CHUNK_FOLDER = "tts/chunks"
SAMPLE_FOLDER = "samples"
IMAGE_TYPES = ("png", "jpg", "jpeg", "gif", "webp")


@dataclass(frozen=True)
class _Rule:
    noun: str
    folders: tuple[str, ...]
    extensions: tuple[str, ...]


def _rule(kind: MediaKind) -> _Rule:
    if kind == "audio":
        return _Rule("audio", tuple(AUDIO_FOLDERS.values()), OUTPUT_FORMATS)
    if kind == "chunk":
        return _Rule("passage audio", (CHUNK_FOLDER,), ("pcm",))
    if kind == "image":
        return _Rule("image", (get_settings().images_folder.strip("/"),), IMAGE_TYPES)
    return _Rule("voice sample", (SAMPLE_FOLDER,), ("wav",))


def _either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


class RefusedPath(ValueError):
    """A stored path that is not a file of its kind under the media root. The reason never quotes the
    path itself (it may hold Markdown or worse); `stored` keeps it for reports printed as text."""

    def __init__(self, noun: str, stored: str, reason: str) -> None:
        super().__init__(f"The {noun} path {reason}.")
        self.noun = noun
        self.stored = stored
        self.reason = reason

    def not_done(self, what: str) -> str:
        """The sentence for a row's card or an action: `This row's audio path ...; it was not opened.`"""
        return f"This row's {self.noun} path {self.reason}; it was not {what}."


def check(stored: str | None, kind: MediaKind) -> str:
    """The stored path in its one spelling (`a//b` and `a/./b` read as `a/b`), once it is sure to name
    a `kind` file: the rules every backend applies before a read, write or delete (object storage
    has no symbolic links, so this is all it needs). Raises RefusedPath for an empty, absolute or
    climbing (`..`) path, a backslash or NUL in it, or a folder or extension that does not fit the kind."""
    rule = _rule(kind)
    text = stored or ""

    def refuse(reason: str) -> RefusedPath:
        return RefusedPath(rule.noun, text, reason)

    if not text.strip():
        raise refuse("is empty")
    if "\\" in text or "\0" in text:
        raise refuse("contains a backslash or a NUL character, which no media path has")
    pure = PurePosixPath(text)
    if pure.is_absolute() or (len(text) > 1 and text[1] == ":"):
        raise refuse("is absolute, so it points outside the media folder")
    if ".." in pure.parts:
        raise refuse("climbs out with “..”, so it points outside the media folder")
    folder = _folder(pure, rule)
    if folder is None or len(pure.parts) <= len(PurePosixPath(folder).parts):
        raise refuse(f"is not in {_either([f + '/' for f in rule.folders])} under the media folder")
    if pure.suffix.lower().lstrip(".") not in rule.extensions:
        raise refuse(f"does not end in {_either(['.' + e for e in rule.extensions])}")
    return str(pure)


def _folder(pure: PurePosixPath, rule: _Rule) -> str | None:
    return next((f for f in rule.folders if pure.parts[: len(PurePosixPath(f).parts)] == PurePosixPath(f).parts), None)


def resolve(stored: str | None, kind: MediaKind, root: Path | None = None) -> Path:
    """The absolute file a stored path names, once it is sure to be a `kind` file inside the media root.

    Raises RefusedPath where `check` does, or for a symbolic link that leads out of the media root
    or into another folder. The file need not exist (writes resolve a new name too)."""
    rule = _rule(kind)
    pure = PurePosixPath(check(stored, kind))
    folder = _folder(pure, rule)
    assert folder is not None  # `check` refuses a path in no folder of its kind

    def refuse(reason: str) -> RefusedPath:
        return RefusedPath(rule.noun, stored or "", reason)

    base = (root or get_settings().media_path).resolve()
    try:
        target = (base / pure).resolve()
        # A resolved path holds no symbolic link, so a target under the folder as named is under the
        # folder as resolved: the folder is only resolved (a walk of every part) when it is not.
        inside = target.is_relative_to(base / folder) or target.is_relative_to((base / folder).resolve())
    except (OSError, RuntimeError):  # a symbolic link loop
        raise refuse("goes round a loop of symbolic links") from None
    if not target.is_relative_to(base):
        raise refuse("leads outside the media folder through a symbolic link")
    if not inside:
        raise refuse(f"leads out of the {folder}/ folder through a symbolic link")
    return target
