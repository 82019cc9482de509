"""Submitting: what is refused (and that nothing is written then), and surviving a Redis outage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from db.engine import new_session
from db.models import SceneAudio, StoryAudio
from db.settings import get_settings
from tests.factories import LOCAL, demo_data
from workers.engine.queue import QUEUE_NAMES
from workers.engine.reconcile import reconcile
from workers.engine.validation import MAX_PROMPT_CHARS
from workers.redis_connection import reset_redis
from workers.service.submit import Refused, Request, submit


@pytest.fixture
def demo(db: str, redis: Redis) -> Iterator[None]:
    demo_data()
    yield


def _rows() -> int:
    with new_session() as session:
        return sum(session.scalar(select(func.count()).select_from(m)) or 0 for m in (StoryAudio, SceneAudio))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"prompt": ""}, "The text is empty"),
        ({"prompt": " \n\t "}, "The text is empty"),
        ({"prompt": "\u200b \ufeff\u2060\n"}, "The text is empty"),
        ({"prompt": "x" * (MAX_PROMPT_CHARS + 1)}, "the most one narration takes is 100,000"),
        ({"voice": "nobody"}, "has no voice 'nobody'"),
        ({"model": "piper:other"}, "has no model 'piper:other'"),
        ({"provider": "acme"}, "Unknown provider 'acme'"),
        ({"provider": "openai", "model": "tts-1", "voice": "nova"}, "set OPENAI_API_KEY"),
        ({"provider": "elevenlabs", "model": "eleven_flash_v2_5"}, "set ELEVENLABS_API_KEY"),
        ({"target_id": 999}, "Story #999 no longer exists"),
    ],
)
def test_refusals_say_why_and_write_nothing(demo: None, redis: Redis, changes: dict[str, object], reason: str) -> None:
    request = {"kind": "story", "target_id": 1, "prompt": "Hello.", **LOCAL, **changes}
    with pytest.raises(Refused, match=reason):
        submit(Request(**request))  # type: ignore[arg-type]
    assert _rows() == 0
    assert redis.dbsize() == 0


def test_a_story_has_one_narration(demo: None, redis: Redis) -> None:
    first = submit(Request(kind="story", target_id=1, prompt="First.", **LOCAL)).row_id
    with pytest.raises(Refused, match=f"already has narration #{first}; each story has one. Tick"):
        submit(Request(kind="story", target_id=1, prompt="Second.", **LOCAL))
    with pytest.raises(Refused, match=f"Narration #{first} .* is still queued; wait for it or cancel it"):
        submit(Request(kind="story", target_id=1, prompt="Second.", replace=True, **LOCAL))
    assert _rows() == 1


def test_a_megabyte_of_text_is_refused_with_the_limit_and_nothing_is_written(demo: None, redis: Redis) -> None:
    with pytest.raises(Refused, match=r"The text has 1,048,576 characters; the most one narration takes is 100,000"):
        submit(Request(kind="scene", target_id=1, prompt="a" * 1_048_576, **LOCAL))
    assert _rows() == 0


def test_emoji_right_to_left_and_markup_are_kept_verbatim(demo: None, redis: Redis) -> None:
    prompt = "🌊 السلام عليكم <script>alert(1)</script> '; DROP TABLE tts_sceneaudio; --"
    done = submit(Request(kind="scene", target_id=1, prompt=prompt, **LOCAL))
    with new_session() as session:
        row = session.get(SceneAudio, done.row_id)
        assert row is not None and row.prompt == prompt


def test_redis_down_on_submit_keeps_the_row_and_the_reconciler_enqueues_it_later(
    demo: None, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    get_settings.cache_clear()
    reset_redis()

    done = submit(Request(kind="scene", target_id=2, prompt="A sparrow's nest.", **LOCAL))

    assert not done.enqueued
    assert "Redis is unreachable" in done.message and "nothing needs to be submitted again" in done.message
    with new_session() as session:
        row = session.get(SceneAudio, done.row_id)
        assert row is not None and row.status == "queued"

    # Redis is back. The submitter had stamped a task id; once the grace period has passed the
    # reconciler sees no such job in Redis and enqueues the row under a fresh id.
    with new_session() as session:
        row = session.get(SceneAudio, done.row_id)
        assert row is not None
        row.created_at = row.created_at.replace(year=row.created_at.year - 1)
        session.commit()
    assert reconcile(redis) == 1
    assert reconcile(redis) == 0  # its job is live now: not enqueued twice
    queued = Queue(QUEUE_NAMES[1], connection=redis).job_ids
    with new_session() as session:
        row = session.get(SceneAudio, done.row_id)
        assert row is not None and queued == [row.task_id] and row.task_id != done.task_id


def test_a_double_click_makes_exactly_one_row(demo: None, redis: Redis) -> None:
    request = Request(kind="scene", target_id=1, prompt="Once.", once_key="form-token-1", **LOCAL)
    submit(request)
    with pytest.raises(Refused, match="already submitted"):
        submit(request)
    assert _rows() == 1
    submit(Request(kind="scene", target_id=1, prompt="Once.", once_key="form-token-2", **LOCAL))
    assert _rows() == 2


def test_a_refused_submit_does_not_use_up_the_form(demo: None, redis: Redis) -> None:
    gone = Request(kind="scene", target_id=999, prompt="Hello.", once_key="form-token-3", **LOCAL)
    with pytest.raises(Refused, match="no longer exists"):
        submit(gone)
    submit(Request(kind="scene", target_id=1, prompt="Hello.", once_key="form-token-3", **LOCAL))
    assert _rows() == 1
