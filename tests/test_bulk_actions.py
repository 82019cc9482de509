"""Retry or cancel every narration a library filter shows: after a provider's outage, or a batch sent
with the wrong voice. Real PostgreSQL and Redis; the rows are queued for real workers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from db.engine import new_session
from db.library import Filters
from db.lifecycle import cancel
from db.models import CANCELLED, SceneAudio, Status, StoryAudio
from db.settings import get_settings
from tests.factories import demo_data, staff_user
from tests.test_library import _add, _set
from workers.engine.queue import queues
from workers.redis_connection import reset_redis
from workers.service import actions
from workers.service.roles import Role, SignedIn


@pytest.fixture
def editor(db: str, redis: Redis) -> Iterator[SignedIn]:
    demo_data()
    yield staff_user("editor")


def _statuses() -> dict[tuple[str, int], str]:
    with new_session() as session:
        return {
            **{("story", r.id): r.status for r in session.query(StoryAudio)},
            **{("scene", r.id): r.status for r in session.query(SceneAudio)},
        }


def _failed(kind: str, target: int, provider: str, user: SignedIn) -> int:
    row_id = _add(kind, target, f"Text {kind} {target}.", user.user_id)
    table = "tts_storyaudio" if kind == "story" else "tts_sceneaudio"
    _set(table, row_id, f"status = 'failed', provider = '{provider}', error_message = 'ElevenLabs is busy (429).'")
    return row_id


def _queued_jobs() -> int:
    return sum(queue.count for queue in queues())


def test_retry_all_failed_of_one_provider_and_only_those(editor: SignedIn, redis: Redis) -> None:
    outage = [_failed("scene", 1, "elevenlabs", editor), _failed("scene", 2, "elevenlabs", editor)]
    outage.append(_failed("story", 1, "elevenlabs", editor))
    other = _failed("scene", 3, "openai", editor)
    before = _queued_jobs()  # what submit queued before they failed

    said = actions.retry_matching(Filters(provider="elevenlabs"), editor)
    assert said == "Queued 3 failed narrations again; chunks already done are not paid for twice."
    statuses = _statuses()
    assert [statuses[("scene", outage[0])], statuses[("scene", outage[1])], statuses[("story", outage[2])]] == [
        Status.QUEUED
    ] * 3
    assert statuses[("scene", other)] == Status.FAILED
    assert _queued_jobs() == before + 3
    with new_session() as session:
        retried = session.get(SceneAudio, outage[0])
        assert retried is not None and retried.error_message is None and retried.updated_by_id == editor.user_id

    # A second click (or a colleague's) finds nothing left to retry: nothing is queued twice.
    again = actions.retry_matching(Filters(provider="elevenlabs", status=Status.FAILED), editor)
    assert again == "No failed narration matches these filters; nothing was retried."
    assert _queued_jobs() == before + 3


def test_a_viewer_cannot_retry_or_cancel_in_bulk(editor: SignedIn) -> None:
    row_id = _failed("scene", 1, "openai", editor)
    viewer = staff_user("reader", role=Role.VIEWER)
    assert actions.retry_matching(Filters(), viewer) == "Only staff can retry narrations."
    assert actions.cancel_matching(Filters(), viewer) == "Only staff can cancel narrations."
    assert _statuses()[("scene", row_id)] == Status.FAILED


def test_at_most_the_newest_bulk_limit_and_it_says_so(editor: SignedIn, monkeypatch: pytest.MonkeyPatch) -> None:
    oldest, *newer = [_failed("scene", n, "openai", editor) for n in (1, 2, 3)]
    monkeypatch.setenv("MAX_BULK_ROWS", "2")
    get_settings.cache_clear()
    said = actions.retry_matching(Filters(), editor)
    assert said.endswith("That was the newest 2; retry again for older ones.")
    statuses = _statuses()
    assert statuses[("scene", oldest)] == Status.FAILED and {statuses[("scene", n)] for n in newer} == {Status.QUEUED}


def test_without_redis_the_retried_rows_wait_in_postgres_and_it_says_so(
    editor: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    row_id = _failed("scene", 1, "openai", editor)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    get_settings.cache_clear()
    reset_redis()
    said = actions.retry_matching(Filters(), editor)
    assert said == (
        "Queued 1 failed narration again; chunks already done are not paid for twice. "
        "Of those, 1 wait in PostgreSQL: Redis is unreachable; workers start them once it is up."
    )
    assert _statuses()[("scene", row_id)] == Status.QUEUED  # the reconciler sends it once Redis answers


def test_cancel_all_queued_and_running_of_one_story(editor: SignedIn) -> None:
    scenes = [_add("scene", n, f"Scene {n}.", editor.user_id) for n in (1, 2, 3)]  # images 1-3: story 1
    _set("tts_sceneaudio", scenes[1], "status = 'processing'")
    _set("tts_sceneaudio", scenes[2], "status = 'completed'")
    elsewhere = _add("scene", 4, "Another story's scene.", editor.user_id)

    said = actions.cancel_matching(Filters(story_id=1), editor)
    assert said == "Cancelled 2 narrations; retry them from the library if you want them after all."
    statuses = _statuses()
    assert [statuses[("scene", n)] for n in scenes] == [Status.FAILED, Status.FAILED, Status.COMPLETED]
    assert statuses[("scene", elsewhere)] == Status.QUEUED
    assert actions.cancel_matching(Filters(story_id=1), editor) == (
        "No queued or running narration matches these filters; nothing was cancelled."
    )


def test_retry_all_failed_leaves_cancelled_ones_and_the_cancelled_filter_retries_them(editor: SignedIn) -> None:
    failure = _failed("scene", 1, "openai", editor)
    stopped = _add("scene", 2, "Stopped on purpose.", editor.user_id)
    with new_session() as session:
        cancel(session, "scene", stopped)

    said = actions.retry_matching(Filters(status=Status.FAILED), editor)
    assert said == "Queued 1 failed narration again; chunks already done are not paid for twice."
    assert _statuses()[("scene", failure)] == Status.QUEUED
    assert _statuses()[("scene", stopped)] == Status.FAILED  # a cancel is not a failure to retry

    said = actions.retry_matching(Filters(status=CANCELLED), editor)
    assert said == "Queued 1 cancelled narration again; chunks already done are not paid for twice."
    assert _statuses()[("scene", stopped)] == Status.QUEUED
    assert actions.retry_matching(Filters(status=CANCELLED), editor) == (
        "No cancelled narration matches these filters; nothing was retried."
    )
