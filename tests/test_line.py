"""A queued narration's place in line and estimated start, counted from real rows in PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from db.engine import get_engine, new_session
from db.heartbeats import beat
from db.line import Place, place
from db.narrations import now
from tests.factories import demo_data

DEAD_AFTER = timedelta(seconds=30)


def _row(table: str, *, status: str = "queued", priority: int = 0, age: str = "0", **sql: str) -> int:
    """A narration row created `age` seconds ago; `sql` gives more columns as SQL expressions."""
    owner = "story_id" if table == "tts_storyaudio" else "image_id"
    columns = ", ".join([owner, "prompt", "provider", "model_backend", "status", "priority", "tags", *sql])
    values = ", ".join([":owner", "'x'", "'local'", "''", ":s", ":p", "'{}'", *sql.values()])
    with get_engine().begin() as connection:
        return int(
            connection.execute(
                text(
                    f"INSERT INTO {table} ({columns}, created_at, updated_at) "
                    f"VALUES ({values}, now() - make_interval(secs => {age}), now()) RETURNING id"
                ),
                {"owner": None if table == "tts_storyaudio" else 1, "s": status, "p": priority},
            ).scalar_one()
        )


def _place(kind: str, row_id: int) -> Place | None:
    with new_session() as session:
        return place(session, kind, row_id, dead_after=DEAD_AFTER)


def test_the_place_counts_due_rows_of_both_tables_by_priority_then_age(db: str) -> None:
    demo_data()
    older_scene = _row("tts_sceneaudio", age="300")
    urgent_story = _row("tts_storyaudio", priority=1, age="10")  # younger, but high priority: ahead
    mine = _row("tts_storyaudio", age="200")
    _row("tts_sceneaudio", age="100")  # younger: behind
    _row("tts_sceneaudio", priority=-1, age="900")  # low priority: behind however old
    _row("tts_sceneaudio", age="900", scheduled_at="now() + interval '1 hour'")  # not due: not ahead
    _row("tts_storyaudio", status="completed", age="900")  # finished: not in line

    found = _place("story", mine)
    assert found is not None and (found.ahead, found.position) == (2, 3)
    assert _place("story", urgent_story) == Place(0, 0, 0, None, None)
    first = _place("scene", older_scene)
    assert first is not None and first.position == 2  # behind the high-priority story only


def test_a_scheduled_row_says_when_it_is_due_instead_of_a_wait(db: str) -> None:
    demo_data()
    later = _row("tts_sceneaudio", scheduled_at="now() + interval '2 hours'")
    found = _place("scene", later)
    assert found is not None and found.due_at is not None and found.wait is None
    assert timedelta(hours=1, minutes=59) < found.due_at - now() < timedelta(hours=2, minutes=1)


def test_the_estimate_is_unknown_without_workers_or_recent_runs_and_follows_them_when_known(db: str) -> None:
    demo_data()
    ahead = [_row("tts_sceneaudio", age=str(500 - i)) for i in range(3)]
    mine = _row("tts_sceneaudio", age="10")
    found = _place("scene", mine)
    assert found is not None and found.ahead == len(ahead) and found.wait is None  # no worker, no timing

    with new_session() as session:
        beat(session, name="w1", host="h", pid=1)
        beat(session, name="w2", host="h", pid=2)
    found = _place("scene", mine)
    assert found is not None and found.workers == 2 and found.wait is None  # nothing finished lately

    for seconds in (60, 120, 600):  # the median is 120 s, not the mean
        _row(
            "tts_sceneaudio",
            status="completed",
            started_at=f"now() - make_interval(secs => {seconds + 5})",
            completed_at="now() - interval '5 seconds'",
        )
    _row("tts_sceneaudio", status="processing", started_at="now()")
    found = _place("scene", mine)
    assert found is not None and found.median_seconds == 120 and found.running == 1
    # 1 running + 3 ahead on 2 workers: it starts after two rounds of about two minutes each.
    assert found.wait == timedelta(minutes=4)
    next_one = _place("scene", ahead[0])
    assert next_one is not None and next_one.wait == timedelta(0)  # a worker is free for it
