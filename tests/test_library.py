"""The library's server-side filters, search and pagination."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from redis import Redis
from sqlalchemy import event, text

from db.engine import get_engine, new_session
from db.library import Filters, matching, page
from db.lifecycle import cancel
from db.monitoring import HistoryFilters, status_over_time
from db.narrations import now
from db.window import Window
from tests.factories import LOCAL, demo_data, staff_user
from workers.service.roles import Role
from workers.service.submit import Request, submit


def _add(kind: str, target: int, prompt: str, user_id: int) -> int:
    return submit(Request(kind=kind, target_id=target, prompt=prompt, user_id=user_id, **LOCAL)).row_id  # type: ignore[arg-type]


def _set(table: str, row_id: int, assignments: str) -> None:
    with get_engine().begin() as connection:
        connection.execute(text(f"UPDATE {table} SET {assignments} WHERE id = :id"), {"id": row_id})


@pytest.fixture
def rows(db: str, redis: Redis) -> Iterator[dict[str, int]]:
    """Two stories and three scenes, by two users, in various states."""
    demo_data()
    ada = staff_user("ada").user_id
    bob = staff_user("bob", role=Role.SUPERUSER).user_id
    made = {
        "story1": _add("story", 1, "The lamp turned all night.", ada),
        "story2": _add("story", 2, "Ada took the brass key.", bob),
        "scene1": _add("scene", 1, "A tall white lighthouse.", ada),
        "scene2": _add("scene", 4, "Inside a clock tower.", bob),
        "scene3": _add("scene", 6, "A garden of 100% pale flowers_", ada),
    }
    _set("tts_storyaudio", made["story1"], "status = 'completed', tags = '{calm}', theme = 'Night'")
    _set("tts_sceneaudio", made["scene2"], "status = 'failed', provider = 'openai'")
    _set("tts_sceneaudio", made["scene3"], "created_at = created_at - interval '10 days'")
    yield made


def _ids(filters: Filters, **paging: int) -> list[tuple[str, int]]:
    with new_session() as session:
        found, _ = page(session, filters, **paging)
    return [(r.kind, r.id) for r in found]


def test_newest_first_across_both_kinds_and_paginated(rows: dict[str, int]) -> None:
    with new_session() as session:
        first, total = page(session, Filters(), number=1, size=2)
        second, _ = page(session, Filters(), number=2, size=2)
        third, _ = page(session, Filters(), number=3, size=2)
    assert total == 5
    order = [(r.kind, r.id) for r in first + second + third]
    assert order == [("scene", rows["scene2"]), ("scene", rows["scene1"]), ("story", rows["story2"]),
                     ("story", rows["story1"]), ("scene", rows["scene3"])]  # fmt: skip
    assert first[0].title == "A narrow workshop full of ticking clocks, warm light falling on a wooden bench."
    assert first[0].story_title == "The Clockmaker's Apprentice"  # a scene row names the story it is in
    assert first[1].story_title == "The Lighthouse Keeper's Cat"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(status="completed"), ["story1"]),
        (Filters(status="failed", provider="openai"), ["scene2"]),
        (Filters(tag="calm"), ["story1"]),
        (Filters(theme="Night"), ["story1"]),
        (Filters(story_id=1), ["scene1", "story1"]),
        (Filters(project_id=1, status="queued"), ["story2", "scene1", "scene3"]),
        (Filters(search="brass key"), ["story2"]),
        (Filters(search="100% pale"), ["scene3"]),
        (Filters(search="flowers_"), ["scene3"]),
        (Filters(search="'; DROP TABLE tts_sceneaudio; --"), []),
    ],
)
def test_filters(rows: dict[str, int], filters: Filters, expected: list[str]) -> None:
    assert sorted(_ids(filters)) == sorted((name[:5], rows[name]) for name in expected)
    with new_session() as session:
        _, total = page(session, filters)
    assert total == len(expected)  # the count ("3 narrations") is the rows listed, by its own query


def test_cancelled_is_its_own_state_and_failed_means_failed(rows: dict[str, int]) -> None:
    with new_session() as session:
        cancel(session, "story", rows["story2"])  # stored as Django's `failed`, with cancelled_at
    assert _ids(Filters(status="failed")) == [("scene", rows["scene2"])]  # a real failure only
    assert _ids(Filters(status="cancelled")) == [("story", rows["story2"])]
    with new_session() as session:
        (found,), _ = page(session, Filters(status="cancelled"))
        assert found.status == "failed" and found.cancelled_at is not None
        # A bulk retry acts on what the filter shows: the failed filter never picks a cancelled row.
        assert matching(session, Filters(status="failed"), limit=10) == [("scene", rows["scene2"])]
        assert matching(session, Filters(status="cancelled"), limit=10) == [("story", rows["story2"])]
    assert len(_ids(Filters())) == 5  # no status filter: both, as before


def test_search_by_row_id_task_id_and_date(rows: dict[str, int]) -> None:
    story1 = rows["story1"]
    assert ("story", story1) in _ids(Filters(search=str(story1)))
    assert _ids(Filters(search=f"story #{story1}")) == [("story", story1)]
    with new_session() as session:
        task = session.execute(
            text("SELECT task_id FROM tts_sceneaudio WHERE id = :id"), {"id": rows["scene1"]}
        ).scalar_one()
        now = session.execute(text("SELECT now()")).scalar_one()
    assert _ids(Filters(search=task)) == [("scene", rows["scene1"])]
    assert ("scene", rows["scene3"]) not in _ids(Filters(since=now - timedelta(days=1)))
    assert _ids(Filters(until=now - timedelta(days=5))) == [("scene", rows["scene3"])]


def test_user_filter_and_usernames(rows: dict[str, int]) -> None:
    with new_session() as session:
        found, total = page(session, Filters(username=" bob "))
        assert total == 2 and {r.username for r in found} == {"bob"}
        assert page(session, Filters(username="bo")) == ([], 0)  # a username, not a part of one


def test_list_queries_never_read_the_preview_column(rows: dict[str, int]) -> None:
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(get_engine(), "before_cursor_execute", listener)
    try:
        with new_session() as session:
            page(session, Filters(search="lamp"))
    finally:
        event.remove(get_engine(), "before_cursor_execute", listener)
    assert statements and not any("base64_audio" in s for s in statements)


def test_a_narration_belongs_to_its_storys_project_on_every_page(rows: dict[str, int]) -> None:
    """One project rule (`NarrationKind.in_project`) for the library and the operations history: a
    narration is in its story's project, whatever project its row was stamped with."""
    with get_engine().begin() as connection:
        connection.execute(text("INSERT INTO project_project (id, name) OVERRIDING SYSTEM VALUE VALUES (2, 'Other')"))
    _set("tts_storyaudio", rows["story1"], "project_id = 2")  # its story (1) is still in project 1
    assert ("story", rows["story1"]) in _ids(Filters(project_id=1))
    assert _ids(Filters(project_id=2)) == []
    window = Window.last(timedelta(hours=1), now=now())
    with new_session() as session:
        assert status_over_time(session, window, HistoryFilters(project_id=2)) == []
        in_one = status_over_time(session, window, HistoryFilters(project_id=1))
    assert sum(bucket.completed for bucket in in_one) == 1  # story1
