"""The chunk rows of a narration: planned once, done one by one, kept across retries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, func, insert, select, update
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from db.models import Chunk
from db.narrations import model_for


@dataclass(frozen=True)
class PlannedChunk:
    """A chunk as the engine sees it (a plain value, safe to hand to another thread)."""

    id: int
    idx: int
    text: str
    done: bool
    audio_path: str | None
    sample_rate: int | None
    seconds: float | None
    characters_billed: int | None = None
    provider_calls: int = 0


def _owner(kind: str, row_id: int) -> dict[str, int]:
    return {"story_audio_id": row_id} if kind == "story" else {"scene_audio_id": row_id}


def owned_by(kind: str, row_id: int) -> ColumnElement[bool]:
    """The chunks of one narration."""
    return Chunk.story_audio_id == row_id if kind == "story" else Chunk.scene_audio_id == row_id


def record_quality(session: Session, kind: str, row_id: int, metadata: dict[str, Any]) -> None:
    """Copy each passage's quality figures from the narration's metadata onto its passage row (in
    the caller's transaction: the one that stores the audio they describe)."""
    measured = metadata.get("qc")
    passages = measured.get("passages") if isinstance(measured, dict) else None
    if not isinstance(passages, list):
        return
    if passages:  # one executemany on the session's connection, not a round trip per passage
        session.connection().execute(
            update(Chunk).where(owned_by(kind, row_id), Chunk.idx == bindparam("i")).values(qc=bindparam("figures")),
            [{"i": idx, "figures": figures} for idx, figures in enumerate(passages)],
        )


def stored_files(session: Session, kind: str, row_id: int) -> tuple[list[str], str | None]:
    """A narration's files as its rows name them (relative to MEDIA_ROOT, not checked): its chunks'
    and its own. Kept apart because each kind of file has its own folder (see workers/media.py)."""
    rows = session.execute(select(Chunk.audio_path, Chunk.redo_audio_path).where(owned_by(kind, row_id)))
    paths = [str(p) for pair in rows for p in pair if p]  # a pending redo's new passage goes with the row
    own = session.scalar(select(model_for(kind).audio_file).where(model_for(kind).id == row_id))
    return paths, own


def plan(
    session: Session, kind: str, row_id: int, texts_for: Callable[[list[str]], list[str]]
) -> tuple[list[str], list[PlannedChunk], list[str]]:
    """Make the row's chunks match `texts_for(the texts of its chunks so far)`, keeping every done
    chunk whose text is unchanged, in the caller's transaction (the claim's: one commit for both).

    Returns the texts, the chunks in order, and the audio paths of chunks that were dropped (to delete).
    """
    existing = {c.idx: c for c in session.scalars(select(Chunk).where(owned_by(kind, row_id)))}
    texts = texts_for([existing[idx].text for idx in sorted(existing)])
    if not texts:
        return texts, [], []
    if not existing:  # the first attempt: one round trip
        ids = session.scalars(
            insert(Chunk).returning(Chunk.id, sort_by_parameter_order=True),
            [{"idx": idx, "text": text, **_owner(kind, row_id)} for idx, text in enumerate(texts)],
        ).all()
        return (
            texts,
            [
                PlannedChunk(i, idx, text, False, None, None, None)
                for i, (idx, text) in zip(ids, enumerate(texts), strict=True)
            ],
            [],
        )
    dropped = [c for idx, c in existing.items() if idx >= len(texts) or c.text != texts[idx]]
    stale_paths = [c.audio_path for c in dropped if c.audio_path]
    if dropped:
        session.execute(delete(Chunk).where(Chunk.id.in_([c.id for c in dropped])))
    for idx, text in enumerate(texts):
        if idx not in existing or existing[idx] in dropped:
            session.add(Chunk(idx=idx, text=text, **_owner(kind, row_id)))
    session.flush()
    rows = session.scalars(select(Chunk).where(owned_by(kind, row_id)).order_by(Chunk.idx)).all()
    planned = [
        PlannedChunk(
            c.id,
            c.idx,
            c.text,
            c.status == "done",
            c.audio_path,
            c.sample_rate,
            c.seconds,
            c.characters_billed,
            c.provider_calls,
        )
        for c in rows
    ]
    return texts, planned, stale_paths


def _relaxed(session: Session) -> None:
    """Chunk bookkeeping need not wait for the WAL flush: if PostgreSQL itself crashed and lost the
    last few hundred milliseconds of it, the chunk is simply requested again. (Claims and
    completions keep full durability.)"""
    session.execute(sql("SET LOCAL synchronous_commit = off"))


def count_call(session: Session, chunk_id: int) -> None:
    """Count a provider request before it is sent, so even a crashed request shows up."""
    _relaxed(session)
    session.execute(
        update(Chunk).where(Chunk.id == chunk_id).values(provider_calls=Chunk.provider_calls + 1, updated_at=func.now())
    )
    session.commit()


def mark_done(
    session: Session,
    chunk_id: int,
    *,
    audio_path: str,
    sample_rate: int,
    seconds: float,
    request_id: str | None,
    characters_billed: int | None,
) -> None:
    _relaxed(session)
    session.execute(
        update(Chunk)
        .where(Chunk.id == chunk_id)
        .values(
            status="done",
            audio_path=audio_path,
            sample_rate=sample_rate,
            seconds=seconds,
            request_id=request_id,
            characters_billed=characters_billed,
            error_message=None,
            updated_at=func.now(),
        )
    )
    session.commit()


def progress(session: Session, kind: str, row_id: int) -> tuple[int, int]:
    """(done, total) chunks of a narration; (0, 0) before it was planned."""
    done, total = session.execute(
        select(func.count().filter(Chunk.status == "done"), func.count()).where(owned_by(kind, row_id))
    ).one()
    return int(done), int(total)
