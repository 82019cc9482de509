"""The alert history: one span per alert, written by the minutely check, read by the Operations page.

The banner shows what holds now and a webhook post scrolls away in chat; the spans answer "when did
the queue back up last night, and for how long?" after the fact.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.models import AlertSpan


def record(session: Session, holding: Mapping[str, str], at: datetime) -> None:
    """`holding` maps the key of every alert that holds now to its message. A new key opens a span,
    a held one is extended (its message kept current), and the spans of keys that no longer hold end."""
    if holding:
        rows = [
            {"key": key, "message": message, "started_at": at, "last_seen_at": at} for key, message in holding.items()
        ]
        opened = insert(AlertSpan).values(rows)
        session.execute(
            opened.on_conflict_do_update(
                index_elements=[AlertSpan.key],
                index_where=AlertSpan.ended_at.is_(None),
                set_={"last_seen_at": at, "message": opened.excluded.message},
            )
        )
    session.execute(
        update(AlertSpan).where(AlertSpan.ended_at.is_(None), AlertSpan.key.not_in(list(holding))).values(ended_at=at)
    )
    session.commit()


def spans(session: Session, start: datetime, end: datetime, *, limit: int = 200) -> list[AlertSpan]:
    """The spans that overlap [start, end), newest first."""
    query = (
        select(AlertSpan)
        .where(AlertSpan.started_at < end, or_(AlertSpan.ended_at.is_(None), AlertSpan.ended_at >= start))
        .order_by(AlertSpan.started_at.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def prune(session: Session, ended_before: datetime) -> int:
    """Delete the spans that ended before `ended_before` (maintenance keeps a year); how many."""
    gone = session.execute(delete(AlertSpan).where(AlertSpan.ended_at < ended_before).returning(AlertSpan.id)).all()
    return len(gone)
