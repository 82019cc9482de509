"""Review and approval: staff approve or request changes with comments on moments of the audio;
a viewer cannot approve; a project that requires approval shows what waits for it in the library;
a review holds for the audio it heard; the Django app reads it all through one view. Real
PostgreSQL and Redis, the fake OpenAI at the HTTP level."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from dashboard.library_table import lines
from dashboard.views import load_detail, starts
from db.engine import get_engine, new_session
from db.library import Filters, page
from db.project_settings import ProjectRules, save
from db.reviews import Comment, ReviewFilter, Verdict, history, standing
from tests.apptest import button, labels, open_narration
from tests.factories import staff_user
from tests.fake_providers import FakeProviders
from tests.test_long_text import long_story
from tests.test_redo import happened
from tests.test_reliability import OPENAI
from workers.engine.jobs import synthesize
from workers.service import actions
from workers.service.review import review
from workers.service.roles import Role
from workers.service.submit import Request, submit

DEMO_PROJECT = 1


def _narrated(text_: str = "The keeper lit the lamp.") -> int:
    row_id = submit(Request(kind="story", target_id=1, prompt=text_, **OPENAI)).row_id
    assert "completed" in synthesize("story", row_id)
    return row_id


def _status_cell(row_id: int, filters: Filters | None = None) -> list[str]:
    with new_session() as session:
        rows, _ = page(session, filters or Filters())
    return [line["status"] for line, row in zip(lines(rows, ZoneInfo("UTC")), rows, strict=True) if row.id == row_id]


def _django_reads(row_id: int) -> tuple[object, ...]:
    """What the Django app reads: one row of the view, by narration."""
    with get_engine().connect() as connection:
        return tuple(
            connection.execute(
                text(
                    "SELECT review_state, approved, requires_approval, reviewed_by FROM tts_narration_review "
                    "WHERE narration_kind = 'story' AND narration_id = :id"
                ),
                {"id": row_id},
            ).one()
        )


def test_a_project_that_requires_approval_shows_what_waits_and_an_approval_clears_it(fake: FakeProviders) -> None:
    with new_session() as session:
        save(session, ProjectRules(DEMO_PROJECT, require_approval=True), user_id=None)
        session.commit()
    row_id = _narrated()
    assert _status_cell(row_id) == ["needs approval"]
    assert _status_cell(row_id, Filters(review=ReviewFilter.NEEDS_APPROVAL)) == ["needs approval"]
    assert _django_reads(row_id) == ("awaiting_approval", False, True, None)

    editor = staff_user("editor")
    assert review("story", row_id, Verdict.APPROVED, [], editor) == f"Approved story narration #{row_id}."
    assert _status_cell(row_id) == ["approved"]
    assert _status_cell(row_id, Filters(review=ReviewFilter.NEEDS_APPROVAL)) == []
    assert _status_cell(row_id, Filters(review=ReviewFilter.APPROVED)) == ["approved"]
    assert _django_reads(row_id) == ("approved", True, True, "editor")
    assert happened(row_id)[-1] == "reviewed"


def test_a_viewer_cannot_approve(fake: FakeProviders) -> None:
    row_id = _narrated()
    reader = staff_user("reader", role=Role.VIEWER)
    assert review("story", row_id, Verdict.APPROVED, [], reader) == "Only staff can approve narrations."
    with new_session() as session:
        assert history(session, "story", row_id) == []
    page_ = open_narration(reader, "story", row_id)
    assert "Approve" not in labels(page_) and "Request changes" not in labels(page_)
    assert "Staff review and approve; your account can listen and read the reviews." in [c.value for c in page_.caption]


def test_changes_are_asked_on_passages_by_time_and_a_redo_reopens_the_review(
    fake: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    row_id = _narrated(long_story(9_000))  # three passages
    detail = load_detail("story", row_id)
    assert detail is not None and len(detail.chunks) == 3
    second = starts(detail)[1]
    assert second is not None
    moment = round(second) + 1  # a second into passage 2, typed as the player shows it
    editor = staff_user("editor")
    assert review("story", row_id, Verdict.CHANGES_REQUESTED, [], editor).startswith("Say what to change")
    with new_session() as session:
        row_seconds = standing(session, "story", row_id)
    assert row_seconds is not None and row_seconds.state is None  # nothing asked: not reviewed, not required

    page_ = open_narration(editor, "story", row_id)
    page_.text_input(key=f"review-draft-story-{row_id}-at").set_value(f"{moment // 60}:{moment % 60:02d}")
    page_.text_input(key=f"review-draft-story-{row_id}-text").set_value("Slower here, please.")
    button(page_, "Add the comment").click().run()
    button(page_, "Request changes").click().run()
    assert not page_.exception, page_.exception
    with new_session() as session:
        (asked,) = history(session, "story", row_id)
        assert asked.verdict == Verdict.CHANGES_REQUESTED and asked.username == "editor"
        assert asked.comments == [Comment(float(moment), "Slower here, please.", 1)]  # passage 2
        assert standing(session, "story", row_id).state == "changes_requested"  # type: ignore[union-attr]
    assert _status_cell(row_id) == ["changes asked"]

    assert actions.redo_chunk("story", row_id, 1, None, editor).startswith("Queued passage 2")
    assert "completed" in synthesize("story", row_id)  # the redo swapped a new passage in
    with new_session() as session:
        assert standing(session, "story", row_id).state == "changed_since_review"  # type: ignore[union-attr]
    assert _status_cell(row_id, Filters(review=ReviewFilter.CHANGED_SINCE)) == ["changed"]
    page_ = open_narration(editor, "story", row_id)
    said = [c.value for c in page_.caption if c.value.startswith("What changed since")]
    assert said and "redo of passage 2 completed" in said[0]
