"""Audio, passages and samples in an S3-compatible bucket (STORAGE_URL): narrations land at the key
the Django app's django-storages expects, jobs resume from the bucket, deletes and maintenance work
on it, refused paths are never requested, the player seeks in it, and a media folder moves into it.
The bucket is a real S3 server over HTTP (moto's, tests/buckets.py)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import obstore
import pytest
import soundfile
from redis import Redis
from sqlalchemy import select, text
from storages.utils import clean_name, safe_join

from dashboard.views import thumbnail
from db.engine import get_engine, new_session
from db.models import Chunk, StoryAudio
from db.settings import get_settings
from tests.buckets import LOCATION, Bucket
from tests.django_app.bucket_probe import SCENE_IMAGE
from tests.factories import LOCAL, demo_data, staff_user
from tests.fake_providers import FakeProviders
from tests.live import Commands
from tests.test_audio_route import _client
from tests.test_long_text import long_story
from tests.test_media_paths import story_row
from tests.test_reliability import _delivered, _progress
from tests.workers_env import WorkersStarter, statuses, wait_until
from workers.cli import main
from workers.engine.jobs import synthesize
from workers.engine.store import LocalStore, ObjectStore, media_store, object_key
from workers.operations.health import storage
from workers.operations.maintenance import run_maintenance
from workers.operations.startup import StartupRefused, check_servers
from workers.service import actions
from workers.service.roles import Role
from workers.service.submit import Request, submit

OPENAI = {"provider": "openai", "model": "tts-1", "voice": "nova"}


@pytest.mark.parametrize("location", ["", "media", "media/", "a/b", "a/b/"])
@pytest.mark.parametrize("name", ["tts/story/story-1-abcd.mp3", "tts/chunks/story-1/0000-7.pcm", "tts//story/./x.wav"])
def test_keys_are_the_ones_django_storages_gives_a_filefield_name(location: str, name: str) -> None:
    assert object_key(location, name) == safe_join(location, clean_name(name))


def test_storage_url_names_the_bucket_and_django_storages_location(bucket: Bucket) -> None:
    store = media_store()
    assert isinstance(store, ObjectStore)
    assert (store.bucket, store.location, store.where) == (bucket.name, LOCATION, f"s3://{bucket.name}/{LOCATION}")


def test_unset_or_file_storage_url_keeps_media_root(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("", "file:"):
        monkeypatch.setenv("STORAGE_URL", value)
        get_settings.cache_clear()
        assert isinstance(media_store(), LocalStore) and media_store().where == str(get_settings().media_path)


def test_start_up_names_a_bucket_that_does_not_answer(
    db: str, redis: Redis, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_servers("a worker")  # the test's own bucket answers

    monkeypatch.setenv("STORAGE_URL", "s3://no-such-bucket/media")
    get_settings.cache_clear()
    with pytest.raises(StartupRefused) as refused:
        check_servers("a worker")

    said = str(refused.value)
    assert said.startswith("The bucket s3://no-such-bucket/media did not answer (") and "AWS_ENDPOINT_URL" in said
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in said and os.environ["AWS_ACCESS_KEY_ID"] not in said


def _story(prompt: str, voice: dict[str, Any], target: int = 1) -> int:
    return submit(Request(kind="story", target_id=target, prompt=prompt, **voice)).row_id


def _row(row_id: int) -> StoryAudio:
    with new_session() as session:
        row = session.get(StoryAudio, row_id)
        assert row is not None
        return row


def test_a_narration_on_the_bucket_lands_at_djangos_key_and_plays(db: str, redis: Redis, bucket: Bucket) -> None:
    demo_data()
    row_id = _story("The lamp turned all night. In the morning, the boats came home.", LOCAL)

    assert "completed" in synthesize("story", row_id)

    row = _row(row_id)
    assert row.audio_file and row.audio_file.startswith("tts/story/")
    data = bucket.get(f"{LOCATION}/{row.audio_file}")
    info = soundfile.info(io.BytesIO(data))
    assert info.format == "WAV" and info.duration == pytest.approx(row.duration_seconds or 0, rel=0.05)
    assert info.duration > 2.0  # a dozen words take a few seconds to say
    keys = bucket.objects()
    assert any(k.startswith(f"{LOCATION}/tts/chunks/story-{row_id}/") and k.endswith(".pcm") for k in keys)
    assert not (get_settings().media_path / "tts").exists(), "nothing went to the local media folder"

    viewer = _client(staff_user("reader", role=Role.VIEWER))
    whole = viewer.get(f"/narration-desk/audio/story/{row_id}")
    assert whole.status_code == 200 and whole.content == data and whole.headers["accept-ranges"] == "bytes"
    part = viewer.get(f"/narration-desk/audio/story/{row_id}", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == data[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}" and part.headers["content-length"] == "1000"
    tail = viewer.get(f"/narration-desk/audio/story/{row_id}", headers={"Range": "bytes=-44"})
    assert tail.status_code == 206 and tail.content == data[-44:]
    past = viewer.get(f"/narration-desk/audio/story/{row_id}", headers={"Range": f"bytes={len(data)}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(data)}"
    saved = viewer.get(f"/narration-desk/audio/story/{row_id}?download=1")
    assert saved.content == data and saved.headers["content-disposition"].startswith("attachment; filename=")


def test_a_resumed_job_reuses_the_passages_in_the_bucket(fake: FakeProviders, bucket: Bucket) -> None:
    row_id = _story(long_story(9_000), OPENAI)
    assert "completed" in synthesize("story", row_id)
    with new_session() as session:
        paths = [str(p) for p in session.scalars(select(Chunk.audio_path).where(Chunk.story_audio_id == row_id))]
    assert len(paths) >= 3 and all(f"{LOCATION}/{p}" in bucket.objects() for p in paths)
    asked = len(fake.calls)

    # Another host takes the row over: the passages are in the bucket, except one it never got to.
    bucket.client().delete_object(Bucket=bucket.name, Key=f"{LOCATION}/{paths[1]}")
    with get_engine().begin() as connection:
        connection.execute(
            text("UPDATE tts_storyaudio SET status = 'queued', audio_file = NULL, completed_at = NULL WHERE id = :id"),
            {"id": row_id},
        )
    assert "completed" in synthesize("story", row_id)

    assert len(fake.calls) == asked + 1, "only the passage missing from the bucket was requested again"
    assert soundfile.info(io.BytesIO(bucket.get(f"{LOCATION}/{_row(row_id).audio_file}"))).duration > 10


def test_a_job_cut_off_on_one_host_is_finished_on_another_from_the_bucket(
    fake: FakeProviders, bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: WorkersStarter
) -> None:
    """Two worker processes with media folders of their own (two hosts, no shared disk) and one bucket:
    the second finishes what the first was killed in, paying again only for what was in flight."""
    fake.latency = 0.4
    monkeypatch.setenv("OPENAI_CONCURRENCY", "2")
    hosts = [tmp_path / "host-a", tmp_path / "host-b"]
    with workers(tmp_path) as running:
        first = running.start(MEDIA_ROOT=str(hosts[0]))
        row_id = _story(long_story(30_000), OPENAI)
        wait_until(lambda: _progress(row_id) >= 3, timeout=60, what="three passages done")
        os.kill(first.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        running.start(MEDIA_ROOT=str(hosts[1]))
        wait_until(lambda: statuses("story", [row_id])[row_id] == "completed", timeout=90, what="completion")
        recovery = time.monotonic() - killed_at

    paid = Counter(c.text for c in fake.calls if _delivered(c))
    assert sum(n > 1 for n in paid.values()) <= 2, "only the passages in flight at the kill were paid twice"
    assert soundfile.info(io.BytesIO(bucket.get(f"{LOCATION}/{_row(row_id).audio_file}"))).duration > 60
    assert not [p for host in hosts for p in host.rglob("*") if p.is_file()], "no host kept a file of its own"
    print(f"\ntaken over from the bucket {recovery:.1f} s after the kill")


def test_delete_removes_the_narrations_objects(fake: FakeProviders, bucket: Bucket) -> None:
    keep = _story("Another story stays.", OPENAI)
    gone = _story(long_story(5_000), OPENAI, 2)
    for row_id in (keep, gone):
        assert "completed" in synthesize("story", row_id)
    before = bucket.objects()
    assert any(f"story-{gone}" in k for k in before)

    said = actions.delete("story", gone, staff_user("boss", role=Role.SUPERUSER))

    after = bucket.objects()
    removed = [k for k in before if k not in after]
    assert said.startswith(f"Deleted story narration #{gone} and {len(removed)} file(s).") and len(removed) >= 3
    assert all(f"story-{gone}" in k for k in removed) and not any(f"story-{gone}" in k for k in after)
    assert any(f"story-{keep}" in k for k in after)


@pytest.fixture
def requested(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every object key the desk asks the bucket for (a spy on obstore's calls, which still go out)."""
    keys: list[str] = []
    for name in ("get", "head", "delete", "put"):
        real = getattr(obstore, name)

        def spy(client: Any, key: Any, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            keys.append(str(key))
            return _real(client, key, *args, **kwargs)

        monkeypatch.setattr(obstore, name, spy)  # the store calls obstore.get(...) at call time
    yield keys


def test_refused_paths_are_never_requested(db: str, redis: Redis, bucket: Bucket, requested: list[str]) -> None:
    demo_data()
    bucket.put(f"{LOCATION}/secret/x.mp3", b"not yours")  # where a path that climbs out would land
    row_id = story_row("tts/story/../../secret/x.mp3")
    viewer = _client(staff_user("reader", role=Role.VIEWER))

    refused = viewer.get(f"/narration-desk/audio/story/{row_id}")
    said = actions.delete("story", row_id, staff_user("boss", role=Role.SUPERUSER))
    report = run_maintenance("test")

    assert refused.status_code == 403 and b"not yours" not in refused.content
    assert "was not deleted" in said and bucket.get(f"{LOCATION}/secret/x.mp3") == b"not yours"
    assert report["errors"] == []
    assert not any("secret" in key for key in requested)


def test_maintenance_counts_and_frees_bucket_bytes(
    fake: FakeProviders, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    row_id = _story("The one narration.", OPENAI)
    assert "completed" in synthesize("story", row_id)
    orphan = f"{LOCATION}/tts/story/story-999-0000aaaa.wav"
    bucket.put(orphan, b"\0" * 50_000)
    used = sum(bucket.objects().values())
    assert storage().media_bytes == used

    monkeypatch.setenv("STORAGE_QUOTA_BYTES", str(used - 40_000))
    get_settings.cache_clear()
    report = run_maintenance("test")["storage"]

    assert report["bytes_used_before"] == used and report["bytes_freed"] == 50_000
    assert orphan not in bucket.objects() and f"{LOCATION}/{_row(row_id).audio_file}" in bucket.objects()
    assert storage().media_bytes == used - 50_000


def test_media_push_moves_a_media_folder_into_the_bucket(
    db: str, bucket: Bucket, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = LocalStore(get_settings().media_path)
    files = {
        "tts/story/story-1-aaaa1111.mp3": b"ID3 story",
        "tts/chunks/story-1/0000-1.pcm": b"\0\1" * 100,
        "samples/openai/tts-1/nova.wav": b"RIFF sample",
    }
    for name, data in files.items():
        folder.write(name, data, "sample" if name.startswith("samples") else "chunk" if ".pcm" in name else "audio")
    (tmp_path / "outside.mp3").write_bytes(b"private")
    (get_settings().media_path / "tts/story/link.mp3").symlink_to(tmp_path / "outside.mp3")

    assert main(["db", "upgrade"]) == 0
    assert "still holds narration audio" in capsys.readouterr().out
    assert main(["media", "push"]) == 0
    first = capsys.readouterr().out
    assert main(["media", "push"]) == 0
    again = capsys.readouterr().out

    assert {k: bucket.get(k) for k in bucket.objects()} == {f"{LOCATION}/{n}": d for n, d in files.items()}
    assert first.startswith(f"Copied 3 file(s), {sum(map(len, files.values())):,} bytes, to {bucket.url};")
    assert "link.mp3" in first and "symbolic link" in first
    assert again.startswith("Copied 0 file(s), 0 bytes") and "3 were already there" in again


def test_the_django_app_reads_the_workers_file_and_the_workers_read_its_upload(
    db: str, redis: Redis, bucket: Bucket, commands: Commands
) -> None:
    demo_data()
    row_id = _story("The red door creaks open.", LOCAL)
    assert "completed" in synthesize("story", row_id)
    ours = bucket.get(f"{LOCATION}/{_row(row_id).audio_file}")

    done = commands.run([sys.executable, "-m", "tests.django_app.bucket_probe", db, str(row_id), bucket.name, LOCATION])

    assert done.returncode == 0, done.stderr
    seen: dict[str, Any] = json.loads(done.stdout)
    assert seen["storage"] == "S3Storage" and seen["name"] == _row(row_id).audio_file
    assert seen["size"] == len(ours) and seen["sha256"] == hashlib.sha256(ours).hexdigest()
    assert thumbnail(seen["image"]) == SCENE_IMAGE
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in done.stdout + done.stderr
