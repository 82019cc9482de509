"""Stored media paths from the shared database are resolved inside the media root, or refused.

Rows are written the way the Django app (or anything else with the database) can write them: raw
SQL naming `audio_file`, `tts_chunk.audio_path` and `images_image.image`. A refused path is never
read, offered for download, shown or deleted; the file it names is checked to still hold its bytes.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile
from redis import Redis
from sqlalchemy import text

from dashboard.views import load_detail, load_view, passage_audio, thumbnail
from db.engine import get_engine, new_session
from db.models import StoryAudio
from db.settings import get_settings
from tests.apptest import open_narration
from tests.factories import demo_data, staff_user
from workers.engine.jobs import synthesize
from workers.engine.media import MediaKind, RefusedPath, resolve
from workers.operations.maintenance import run_maintenance
from workers.service import actions
from workers.service.roles import Role

CASES = ("traversal", "absolute", "symlink", "wrong folder", "wrong extension")


def _wav(seconds: float = 0.5) -> bytes:
    """A real, short WAV: if a refused path were read, it would play (and re-cut) fine."""
    rate = 8000
    tone = (np.sin(np.arange(int(rate * seconds)) * 0.05) * 8000).astype(np.int16)
    out = io.BytesIO()
    soundfile.write(out, tone, rate, format="WAV")
    return out.getvalue()


@dataclass(frozen=True)
class Planted:
    """A stored path and the file it names (which must survive, byte for byte)."""

    stored: str
    target: Path
    data: bytes

    def untouched(self) -> bool:
        return self.target.is_file() and self.target.read_bytes() == self.data


_FOLDER: dict[MediaKind, tuple[str, str]] = {"audio": ("tts/story", "wav"), "chunk": ("tts/chunks/x", "pcm")}
_FOLDER["image"] = ("images", "png")


def plant(case: str, kind: MediaKind) -> Planted:
    """A file a row must not reach, and the stored path by which `case` reaches it."""
    media = get_settings().media_path
    folder, extension = _FOLDER[kind]
    data = _wav()
    outside = media.parent / "x"
    if case == "traversal":
        stored = "../x"
    elif case == "absolute":
        stored = str(outside)
    elif case == "symlink":
        stored = f"{folder}/link.{extension}"
        (media / folder).mkdir(parents=True, exist_ok=True)
        (media / stored).symlink_to(outside)
    elif case == "wrong folder":
        stored = "samples/x.wav" if kind == "audio" else f"tts/story/x.{extension}"
    else:
        stored = f"{folder}/x.py"
    target = outside if case in ("traversal", "absolute", "symlink") else media / stored
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return Planted(stored, target, data)


def good(relative: str, data: bytes | None = None) -> Planted:
    """A file where it belongs, so each test also shows the sound path still works."""
    target = get_settings().media_path / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(_wav() if data is None else data)
    return Planted(relative, target, target.read_bytes())


def sql(statement: str, **values: object) -> int | None:
    """Run one statement as Django would (its columns only); the id it returns, if any."""
    with get_engine().begin() as connection:
        result = connection.execute(text(statement), values)
        return result.scalar() if result.returns_rows else None


def story_row(
    audio_file: str | None, *, status: str = "completed", updated: str = "now()", replaces: int | None = None
) -> int:
    """A story narration as the Django ORM inserts it (no story: the one-to-one is not the point here)."""
    row_id = sql(
        "INSERT INTO tts_storyaudio (prompt, audio_file, voice_style, provider, status, model_backend, tags, "
        f"created_at, updated_at, replaces_id) VALUES ('Once upon a time.', :audio_file, 'joe', 'local', :status, "
        f"'piper:en_US-joe-medium', '{{}}', now(), {updated}, :replaces) RETURNING id",
        audio_file=audio_file,
        status=status,
        replaces=replaces,
    )
    assert row_id is not None
    return row_id


def chunk_row(story_audio_id: int, audio_path: str) -> None:
    sql(
        "INSERT INTO tts_chunk (story_audio_id, idx, text, status, audio_path, sample_rate, seconds) "
        "VALUES (:owner, 0, 'Once upon a time.', 'done', :path, 8000, 0.5)",
        owner=story_audio_id,
        path=audio_path,
    )


@pytest.fixture
def demo(db: str) -> Iterator[None]:
    demo_data()
    yield


@pytest.mark.parametrize("stored", ["", "tts\\story\\x.wav", "tts/story/x\0.wav", "C:/x.wav", "tts/story", "x.wav"])
def test_odd_paths_are_refused_before_the_disk_is_asked(stored: str) -> None:
    with pytest.raises(RefusedPath):
        resolve(stored, "audio")


@pytest.mark.parametrize("case", CASES)
def test_the_card_does_not_open_a_refused_audio_path(demo: None, case: str) -> None:
    bad = plant(case, "audio")
    refused = story_row(bad.stored)
    fine = good("tts/story/story-1-good.wav")
    kept = story_row(fine.stored)

    view = load_view("story", refused)
    assert view is not None and not view.file_ready
    assert view.file_refused is not None and view.file_refused.startswith("This row's audio path ")
    assert view.file_refused.endswith("; it was not opened.") and bad.stored not in view.file_refused
    view = load_view("story", kept)
    assert view is not None and view.file_ready and view.file_refused is None


def test_the_card_shows_the_refusal_instead_of_the_download(demo: None, redis: Redis) -> None:
    viewer = staff_user("reader", role=Role.VIEWER)
    refused = story_row(plant("absolute", "audio").stored)
    page = open_narration(viewer, "story", refused)
    assert not page.get("link_button")
    assert [w.value for w in page.warning] == [
        "This row's audio path is absolute, so it points outside the media folder; it was not opened."
    ]
    page = open_narration(viewer, "story", story_row(good("tts/story/story-2-good.wav").stored))
    assert page.get("link_button") and not page.warning


@pytest.mark.parametrize("case", CASES)
def test_a_refused_passage_path_is_not_read(demo: None, case: str) -> None:
    bad = plant(case, "chunk")
    row_id = story_row(None)
    chunk_row(row_id, bad.stored)
    detail = load_detail("story", row_id)
    assert detail is not None
    with pytest.raises(RefusedPath):
        passage_audio(detail.chunks[0])

    pcm = np.zeros(800, dtype=np.int16).tobytes()
    fine = story_row(None)
    chunk_row(fine, good(f"tts/chunks/story-{fine}/0000-1.pcm", pcm).stored)
    detail = load_detail("story", fine)
    assert detail is not None
    wav = passage_audio(detail.chunks[0])
    assert wav is not None and soundfile.info(io.BytesIO(wav)).frames == 800


@pytest.mark.parametrize("case", CASES)
def test_a_refused_scene_image_is_not_shown(demo: None, case: str) -> None:
    bad = plant(case, "image")
    sql("UPDATE images_image SET image = :path WHERE id = 1", path=bad.stored)
    stored = sql("SELECT image FROM images_image WHERE id = 1")
    with pytest.raises(RefusedPath, match=r"^The image path "):
        thumbnail(str(stored))

    fine = good("images/scene.png", b"\x89PNG")
    sql("UPDATE images_image SET image = :path WHERE id = 2", path=fine.stored)
    assert thumbnail(str(sql("SELECT image FROM images_image WHERE id = 2"))) == b"\x89PNG"


def _old_failure(audio_file: str | None) -> int:
    return story_row(audio_file, status="failed", updated="now() - interval '40 days'")


@pytest.mark.parametrize("case", CASES)
def test_maintenance_never_deletes_a_refused_path_and_cleans_the_rest(
    demo: None, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = plant(case, "audio")
    refused = _old_failure(bad.stored)
    bad_chunk = plant(case, "chunk") if case not in ("traversal", "absolute") else None
    if bad_chunk is not None:
        chunk_row(refused, bad_chunk.stored)
    fine = good("tts/story/story-9-good.wav")
    cleaned = _old_failure(fine.stored)
    monkeypatch.setenv("STORAGE_QUOTA_BYTES", "1")  # the quota step tries to free everything it may
    get_settings.cache_clear()

    report = run_maintenance("test")

    assert bad.untouched() and (bad_chunk is None or bad_chunk.untouched())
    assert any(line.startswith(f"story #{refused} audio_file ") for line in report["refused_paths"])
    assert report["errors"] == []
    assert report["failed_rows_cleaned"] == 1 and not fine.target.exists()
    with new_session() as session:
        assert session.get(StoryAudio, refused).audio_file == bad.stored  # type: ignore[union-attr]
        assert session.get(StoryAudio, cleaned).audio_file is None  # type: ignore[union-attr]

    again = run_maintenance("test")  # still refused, still listed, still there
    assert any(line.startswith(f"story #{refused} audio_file ") for line in again["refused_paths"])
    assert bad.untouched()


@pytest.mark.parametrize("case", CASES)
def test_delete_removes_the_row_but_not_a_refused_file(demo: None, case: str) -> None:
    admin = staff_user("root", role=Role.SUPERUSER)
    bad = plant(case, "audio")
    row_id = story_row(bad.stored)
    fine_chunk = good(f"tts/chunks/story-{row_id}/0000-1.pcm", b"\0\0")
    chunk_row(row_id, fine_chunk.stored)

    said = actions.delete("story", row_id, admin)

    assert said.startswith(f"Deleted story narration #{row_id} and 1 file(s). This row's audio path ")
    assert said.endswith("; it was not deleted.") and bad.stored not in said
    assert bad.untouched() and not fine_chunk.target.exists()
    with new_session() as session:
        assert session.get(StoryAudio, row_id) is None

    fine = good("tts/story/story-3-good.wav")
    row_id = story_row(fine.stored)
    assert actions.delete("story", row_id, admin) == f"Deleted story narration #{row_id} and 1 file(s)."
    assert not fine.target.exists()


@pytest.mark.parametrize("case", CASES)
def test_redo_does_not_unlink_a_refused_passage_file(demo: None, redis: Redis, case: str) -> None:
    editor = staff_user("editor")
    bad = plant(case, "chunk")
    row_id = story_row(good("tts/story/story-4-good.wav").stored)
    chunk_row(row_id, bad.stored)

    # A completed narration: the old passage file is replaced only once the redo is swapped in.
    said = actions.redo_chunk("story", row_id, 0, None, editor)
    assert said.startswith(f"Queued passage 1 of story narration #{row_id} again")
    assert "redo completed" in synthesize("story", row_id)
    assert bad.untouched()

    # A failed one is queued again at once, and its old passage file goes then.
    failed = story_row(None, status="failed")
    chunk_row(failed, bad.stored)
    said = actions.redo_chunk("story", failed, 0, None, editor)
    assert said.startswith(f"Queued passage 1 of story narration #{failed} again")
    assert " This row's passage audio path " in said and said.endswith("; it was not deleted.")
    assert bad.untouched()

    fine = story_row(good("tts/story/story-5-good.wav").stored)
    fine_chunk = good(f"tts/chunks/story-{fine}/0000-1.pcm", b"\0\0")
    chunk_row(fine, fine_chunk.stored)
    assert "not deleted" not in actions.redo_chunk("story", fine, 0, None, editor)
    assert fine_chunk.target.exists()  # it still plays until the new passage is swapped in
    assert "redo completed" in synthesize("story", fine)
    assert not fine_chunk.target.exists()


def test_a_narration_a_pending_replacement_points_to_is_not_deleted(demo: None) -> None:
    admin = staff_user("root", role=Role.SUPERUSER)
    current = story_row(None)
    successor = story_row(None, status="queued", replaces=current)

    assert actions.delete("story", current, admin) == (
        f"Narration #{current} is being replaced by #{successor}, which is still queued; "
        f"cancel #{successor} first, then delete #{current}."
    )
    with new_session() as session:
        assert session.get(StoryAudio, current) is not None

    sql("UPDATE tts_storyaudio SET status = 'cancelled' WHERE id = :id", id=successor)
    assert actions.delete("story", current, admin) == f"Deleted story narration #{current} and 0 file(s)."


def test_maintenance_keeps_going_past_a_corrupt_file_and_keeps_its_preview(
    demo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = base64.b64encode(_wav(4.0)).decode()  # about 85 kB of preview
    corrupt = story_row(good("tts/story/story-6-corrupt.wav", b"not audio at all" * 100).stored)
    missing = story_row("tts/story/story-7-gone.wav")
    shrinkable = story_row(good("tts/story/story-8-fine.wav", _wav(4.0)).stored)
    sql("UPDATE tts_storyaudio SET base64_audio = :big", big=big)
    cleaned = _old_failure(good("tts/story/story-10-failed.wav").stored)
    monkeypatch.setenv("PREVIEW_MAX_BYTES", "20000")
    get_settings.cache_clear()

    report = run_maintenance("test")

    assert report["previews_shrunk"] == 1 and report["failed_rows_cleaned"] == 1
    kept = report["previews_kept"]
    assert any(line.startswith(f"story #{corrupt}: ") and "could not be read" in line for line in kept)
    assert any(line.startswith(f"story #{missing}: ") and "missing" in line for line in kept)
    with new_session() as session:
        assert session.get(StoryAudio, corrupt).base64_audio == big  # type: ignore[union-attr]
        assert session.get(StoryAudio, missing).base64_audio == big  # type: ignore[union-attr]
        shrunk = session.get(StoryAudio, shrinkable)
        assert shrunk is not None and shrunk.base64_audio and len(shrunk.base64_audio) <= 20_000
        assert session.get(StoryAudio, cleaned).audio_file is None  # type: ignore[union-attr]
