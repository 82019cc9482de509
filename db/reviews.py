"""Review and approval of completed narrations (`tts_review`, `tts_review_comment`,
`tts_review_state`; read through the `tts_narration_review` view, migration 0015).

A review approves the audio as it is, or asks for changes with comments on moments of it. It
holds for that audio only: it records the narration's audio file, and another one (a redo
swapped in, a retry completed) reads as "changed since review" until someone reviews it again.
Django's four statuses keep their meaning; the review state lives beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, column, exists, not_, select, table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.models import ProjectSetting, Review, ReviewComment, ReviewState, Status, User
from db.narrations import NarrationKind


class Verdict(StrEnum):
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"


class ReviewFilter(StrEnum):
    """What the library can narrow completed narrations to."""

    NEEDS_APPROVAL = "needs_approval"
    """Its project requires approval and the audio as it is now is not approved."""
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    CHANGED_SINCE = "changed_since_review"
    NOT_REVIEWED = "not_reviewed"


VIEW = table(
    "tts_narration_review",
    column("narration_kind"), column("narration_id"), column("review_state"), column("approved"),
    column("requires_approval"), column("reviewed_by"), column("reviewed_at"),
)  # fmt: skip
"""The view the Django app reads, which this desk reads too: one definition of the state."""


@dataclass(frozen=True)
class Comment:
    at_seconds: float
    text: str
    passage: int | None = None


@dataclass(frozen=True)
class Standing:
    """Where a narration's review stands."""

    state: str | None
    """approved, changes_requested, changed_since_review, awaiting_approval, or None (nothing asked)."""
    approved: bool
    requires_approval: bool
    reviewed_by: str | None
    reviewed_at: datetime | None


@dataclass(frozen=True)
class PastReview:
    verdict: str
    username: str | None
    at: datetime
    audio_file: str | None
    comments: list[Comment]


def passage_at(metadata: dict[str, Any] | None, seconds: float) -> int | None:
    """The passage (0-based) a moment of the audio falls in, from the starts mastering recorded."""
    stored = ((metadata or {}).get("mastering") or {}).get("passage_starts")
    if not isinstance(stored, list) or not all(isinstance(s, int | float) for s in stored) or not stored:
        return None
    return max(0, sum(1 for start in stored if start <= seconds) - 1)


def record(
    session: Session,
    kind: str,
    row_id: int,
    verdict: Verdict,
    comments: list[Comment],
    *,
    user_id: int | None,
    audio_file: str | None,
) -> int:
    """Add a review and make it the narration's latest (the caller commits); its id."""
    review = Review(
        narration_kind=kind, narration_id=row_id, verdict=verdict.value, user_id=user_id,
        audio_file=audio_file,
        comments=[ReviewComment(at_seconds=c.at_seconds, passage=c.passage, text=c.text) for c in comments],
    )  # fmt: skip
    session.add(review)
    session.flush()
    latest = {
        "review_id": review.id, "verdict": review.verdict, "user_id": user_id, "at": review.at,
        "audio_file": audio_file,
    }  # fmt: skip
    session.execute(
        insert(ReviewState)
        .values(narration_kind=kind, narration_id=row_id, **latest)
        .on_conflict_do_update(index_elements=[ReviewState.narration_kind, ReviewState.narration_id], set_=latest)
    )
    return review.id


def standing(session: Session, kind: str, row_id: int) -> Standing | None:
    """The narration's review state as the Django app reads it; None when the narration is gone."""
    row = session.execute(
        select(
            VIEW.c.review_state, VIEW.c.approved, VIEW.c.requires_approval, VIEW.c.reviewed_by, VIEW.c.reviewed_at
        ).where(VIEW.c.narration_kind == kind, VIEW.c.narration_id == row_id)
    ).first()
    return Standing(*row) if row is not None else None


def states(session: Session, kind: str, ids: list[int]) -> dict[int, str | None]:
    """The review state of each of a page's narrations (one query per kind, as the view allows)."""
    if not ids:
        return {}
    query = select(VIEW.c.narration_id, VIEW.c.review_state).where(
        VIEW.c.narration_kind == kind, VIEW.c.narration_id.in_(ids)
    )
    return {int(row_id): state for row_id, state in session.execute(query)}


def history(session: Session, kind: str, row_id: int) -> list[PastReview]:
    """Every review of the narration, newest first, with its comments in the audio's order."""
    reviews = session.execute(
        select(Review, User.username)
        .outerjoin(User, User.id == Review.user_id)
        .where(Review.narration_kind == kind, Review.narration_id == row_id)
        .order_by(Review.at.desc(), Review.id.desc())
    ).all()
    return [
        PastReview(
            r.verdict,
            username,
            r.at,
            r.audio_file,
            [Comment(c.at_seconds, c.text, c.passage) for c in r.comments],
        )
        for r, username in reviews
    ]


def condition(kind: NarrationKind, wanted: ReviewFilter) -> ColumnElement[bool]:
    """The library's review filter on one kind's table, as semi-joins on `tts_review_state` (its
    primary key) and the projects that require approval; every row it keeps is completed."""
    model = kind.model
    mine = and_(ReviewState.narration_kind == kind.name, ReviewState.narration_id == model.id)
    current = ReviewState.audio_file == model.audio_file
    completed = model.status == Status.COMPLETED
    if wanted == ReviewFilter.NOT_REVIEWED:
        return completed & not_(exists().where(mine))
    if wanted == ReviewFilter.CHANGED_SINCE:
        return completed & exists().where(mine, ReviewState.audio_file.is_distinct_from(model.audio_file))
    if wanted == ReviewFilter.NEEDS_APPROVAL:
        strict = select(ProjectSetting.project_id).where(ProjectSetting.require_approval.is_(True))
        approved = exists().where(mine, current, ReviewState.verdict == Verdict.APPROVED)
        return completed & kind.in_project(strict) & not_(approved)
    return completed & exists().where(mine, current, ReviewState.verdict == wanted.value)
