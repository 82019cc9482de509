"""Every attempt and every action leaves exactly one event, with who (a person or a worker) and why:
the history a narration's timeline and the operations page read. Real PostgreSQL and Redis, the
fake OpenAI at the HTTP level."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dashboard.views import load_detail
from db import events
from db.engine import new_session
from db.models import Event, User
from tests.apptest import open_narration
from tests.factories import staff_user
from tests.fake_providers import FakeProviders
from tests.test_redo import happened
from tests.test_reliability import OPENAI
from workers.engine.jobs import synthesize, worker_identity
from workers.service import actions
from workers.service.roles import Role
from workers.service.submit import Request, submit

TEXT = "The keeper climbed the stairs and lit the lamp."


def _who(kind: str, row_id: int) -> list[tuple[str, str | None, str | None, str | None]]:
    """(what, username, worker, message) of each event of a narration, oldest first."""
    with new_session() as session:
        rows = session.execute(
            select(Event.what, User.username, Event.worker, Event.message)
            .outerjoin(User, User.id == Event.user_id)
            .where(Event.narration_kind == kind, Event.narration_id == row_id)
            .order_by(Event.at, Event.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_every_attempt_and_action_leaves_one_event_saying_who_and_why(
    fake: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHUNK_TRIES", "2")
    editor = staff_user("editor")
    boss = staff_user("boss", role=Role.SUPERUSER)
    story = submit(Request(kind="story", target_id=1, prompt=TEXT, user_id=editor.user_id, **OPENAI)).row_id

    fake.fail_next("500", 2)  # both tries of the passage fail: the attempt is retried later
    assert "will retry" in synthesize("story", story)
    fake.fail_next("500")  # the next attempt's passage fails once, then passes
    assert "completed" in synthesize("story", story)
    assert happened(story) == [
        "submitted", "claimed", "passage_retried", "attempt_failed", "claimed", "passage_retried", "completed",
    ]  # fmt: skip
    said = _who("story", story)
    me = worker_identity()
    assert said[0][:2] == ("submitted", "editor")
    assert [(w, m) for what, _, w, m in said if what == "claimed"] == [(me, "attempt 1 of 3"), (me, "attempt 2 of 3")]
    retried = [m for what, _, _, m in said if what == "passage_retried"]
    assert len(retried) == 2 and all(m and m.startswith("server_error:") for m in retried)
    assert said[3][3] is not None and "Retrying automatically" in said[3][3]

    copy = Request(
        kind="story", target_id=1, prompt=TEXT + " Then he slept.", user_id=editor.user_id,
        replace=True, copy_of=story, **OPENAI,
    )  # fmt: skip
    second = submit(copy).row_id
    assert "completed" in synthesize("story", second)
    assert _who("story", second)[0] == ("submitted", "editor", None, f"a copy of #{story}, to replace #{story}")
    assert happened(second) == ["submitted", "claimed", "completed"]
    assert happened(story)[-2:] == ["duplicated", "replaced"]
    assert _who("story", story)[-2:] == [
        ("duplicated", "editor", None, f"as story narration #{second}"),
        ("replaced", None, None, f"by story narration #{second}"),
    ]

    scene = submit(Request(kind="scene", target_id=1, prompt=TEXT, user_id=editor.user_id, **OPENAI)).row_id
    fake.fail_next("quota")
    assert "failed" in synthesize("scene", scene)
    assert actions.retry("scene", scene, editor).startswith("Queued")
    assert actions.cancel("scene", scene, editor).startswith("Cancelled")
    assert actions.delete("scene", scene, boss).startswith("Deleted")
    assert happened(scene, "scene") == ["submitted", "claimed", "failed", "retried", "cancelled", "deleted"]
    failed = _who("scene", scene)[2][3]
    assert failed is not None and "quota" in failed.lower()
    assert [u for what, u, _, _ in _who("scene", scene) if what in ("retried", "cancelled", "deleted")] == [
        "editor", "editor", "boss",
    ]  # fmt: skip

    detail = load_detail("story", story)
    assert detail is not None
    assert [(e.label, e.by) for e in detail.timeline][:3] == [
        ("submitted", "editor"), ("claimed", me), ("passage 1 retried", me),
    ]  # fmt: skip
    with new_session() as session:
        listed = events.recent(session, events.What.DELETED)
    assert [(e.kind, e.narration_id, e.by) for e in listed] == [("scene", scene, "boss")]

    page = open_narration(editor, "scene", scene)  # the deleted narration's link still tells its story
    (history,) = (frame.value for frame in page.dataframe)
    assert history["event"].tolist() == ["submitted", "claimed", "failed", "retried", "cancelled", "deleted"]
    assert history["by"].tolist()[-1] == "boss"
