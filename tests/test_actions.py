"""Retry and delete say what they did, and are refused with a reason when not allowed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from db.engine import new_session
from db.models import Chunk, SceneAudio
from db.settings import get_settings
from tests.factories import demo_data, staff_user
from tests.fake_providers import FakeProviders
from tests.test_long_text import long_story
from tests.test_reliability import OPENAI
from tests.workers_env import providers_on
from workers import actions
from workers.jobs import synthesize
from workers.signin import Role
from workers.submit import Request, submit


@pytest.fixture
def fake(db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviders]:
    demo_data()
    with FakeProviders(seconds_per_char=0.002) as running, providers_on(running, monkeypatch):
        yield running


def test_retry_resumes_a_failed_narration_without_paying_twice(fake: FakeProviders) -> None:
    editor = staff_user("editor")
    row_id = submit(Request(kind="scene", target_id=1, prompt=long_story(9_000), **OPENAI)).row_id
    fake.fail_next("quota")  # one chunk fails for good, the other two finish
    synthesize("scene", row_id)
    assert len([c for c in fake.calls if c.status == 200]) == 2

    assert actions.retry("scene", row_id, editor).startswith(f"Queued scene narration #{row_id} again")
    assert "completed" in synthesize("scene", row_id)
    paid = [c.text for c in fake.calls if c.status == 200]
    assert len(paid) == 3 and len(set(paid)) == 3  # only the missing chunk was requested
    with new_session() as session:
        row = session.get(SceneAudio, row_id)
        assert row is not None and row.updated_by_id == editor.user_id and row.attempts == 1

    assert "only failed or cancelled narrations can be retried" in actions.retry("scene", row_id, editor)


def test_delete_is_for_superusers_and_removes_the_files(fake: FakeProviders) -> None:
    editor = staff_user("editor")
    admin = staff_user("root", role=Role.SUPERUSER)
    row_id = submit(Request(kind="scene", target_id=2, prompt="A quiet lake.", **OPENAI)).row_id
    synthesize("scene", row_id)
    media = get_settings().media_path
    files = [p for p in media.rglob("*") if p.is_file()]
    assert len(files) == 2  # the narration and its one chunk

    assert actions.delete("scene", row_id, editor) == "Only superusers can delete narrations."
    assert actions.delete("scene", row_id, admin) == f"Deleted scene narration #{row_id} and 2 file(s)."
    assert not [p for p in media.rglob("*") if p.is_file()]
    with new_session() as session:
        assert session.get(SceneAudio, row_id) is None
        assert session.query(Chunk).count() == 0
    assert actions.delete("scene", row_id, admin) == f"Scene narration #{row_id} does not exist."
