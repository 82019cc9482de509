"""Reviewing a completed narration: approve it, or request changes with comments on moments of it.

Staff review; viewers listen and read reviews but cannot approve (who may is read afresh from
`auth_user`, `workers/service/access.py`). Each review is a REVIEWED event too, so the narration's
history says who approved what, and when.
"""

from __future__ import annotations

from db import events, reviews
from db.engine import new_session
from db.models import Status
from db.narrations import get
from db.reviews import Comment, Verdict
from workers.service.access import refusal
from workers.service.roles import SignedIn

MAX_COMMENTS = 50
MAX_COMMENT_CHARS = 2_000


def _length(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _problem(verdict: Verdict, comments: list[Comment], duration: float | None) -> str | None:
    """What is wrong with the review as written, or None."""
    if verdict == Verdict.CHANGES_REQUESTED and not comments:
        return "Say what to change: add a comment at the moment it is about, then request changes."
    if len(comments) > MAX_COMMENTS:
        return f"A review takes at most {MAX_COMMENTS} comments; group them, or review in two rounds."
    for comment in comments:
        if not comment.text.strip():
            return f"The comment at {_length(comment.at_seconds)} is empty; write it or remove it."
        if len(comment.text) > MAX_COMMENT_CHARS:
            return f"The comment at {_length(comment.at_seconds)} is over {MAX_COMMENT_CHARS:,} characters; shorten it."
        if comment.at_seconds < 0 or (duration is not None and comment.at_seconds > duration + 0.5):
            return f"{_length(comment.at_seconds)} is not in the audio ({_length(duration or 0)} long); fix its time."
    return None


def review(kind: str, row_id: int, verdict: Verdict, comments: list[Comment], user: SignedIn) -> str:
    """Record the review, with each comment on the passage its moment falls in; a sentence."""
    doing = "approve narrations" if verdict == Verdict.APPROVED else "review narrations"
    if refused := refusal(user.user_id, doing):
        return refused
    with new_session() as session:
        row = get(session, kind, row_id)
        if row is None:
            return f"{kind.title()} narration #{row_id} does not exist."
        if row.status != Status.COMPLETED:
            return f"{kind.title()} narration #{row_id} is {row.status}; a narration is reviewed once it has completed."
        if problem := _problem(verdict, comments, row.duration_seconds):
            return problem
        placed = [
            Comment(c.at_seconds, c.text.strip(), reviews.passage_at(row.audio_metadata, c.at_seconds))
            for c in comments
        ]
        placed.sort(key=lambda c: c.at_seconds)
        reviews.record(session, kind, row_id, verdict, placed, user_id=user.user_id, audio_file=row.audio_file)
        said = "approved" if verdict == Verdict.APPROVED else "changes requested"
        if placed:
            said += f": {len(placed)} comment{'s' if len(placed) > 1 else ''}"
        events.record(session, kind, row_id, events.What.REVIEWED, user_id=user.user_id, message=said)
        session.commit()
    if verdict == Verdict.APPROVED:
        return f"Approved {kind} narration #{row_id}" + (f" with {len(placed)} comment(s)." if placed else ".")
    return f"Requested changes to {kind} narration #{row_id}: {len(placed)} comment(s) on its passages."
