"""The chunk rows of a narration: planned once, done one by one, kept across retries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Executable, Insert, Update, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from db.engine import get_engine
from db.models import Chunk
from db.narrations import kind_of, model_for


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


def quality_passages(metadata: dict[str, Any]) -> list[Any]:
    """Each passage's quality figures in a narration's metadata (`qc.passages`); none when the
    checks did not run or crashed."""
    measured = metadata.get("qc")
    passages = measured.get("passages") if isinstance(measured, dict) else None
    return passages if isinstance(passages, list) else []


def record_quality(session: Session, kind: str, row_id: int, metadata: dict[str, Any]) -> None:
    """Copy each passage's quality figures from the narration's metadata onto its passage row (in
    the caller's transaction: the one that stores the audio they describe). A job's completion does
    the same inside its own statement (`db.lifecycle.complete`)."""
    passages = quality_passages(metadata)
    if passages:  # one executemany on the session's connection, not a round trip per passage
        session.connection().execute(
            _quality_of(kind), [{"owner": row_id, "i": idx, "figures": figures} for idx, figures in enumerate(passages)]
        )


@cache
def _quality_of(kind: str) -> Update:
    return (
        update(Chunk)
        .where(kind_of(kind).chunk_owner == bindparam("owner"), Chunk.idx == bindparam("i"))
        .values(qc=bindparam("figures"))
    )


def stored_files(session: Session, kind: str, row_id: int) -> tuple[list[str], str | None]:
    """A narration's files as its rows name them (relative to MEDIA_ROOT, not checked): its chunks'
    and its own. Kept apart because each kind of file has its own folder (see workers/engine/media.py)."""
    rows = session.execute(select(Chunk.audio_path, Chunk.redo_audio_path).where(kind_of(kind).owns(row_id)))
    paths = [str(p) for pair in rows for p in pair if p]  # a pending redo's new passage goes with the row
    model = model_for(kind)
    own = session.scalar(select(model.audio_file).where(model.id == row_id))
    return paths, own


_PLANNED = (Chunk.id, Chunk.idx, Chunk.text, Chunk.status == "done", Chunk.audio_path, Chunk.sample_rate,
            Chunk.seconds, Chunk.characters_billed, Chunk.provider_calls)  # fmt: skip
"""A chunk row's columns in PlannedChunk's order."""


@cache
def _planned_of(kind: str) -> Executable:
    """The chunks of one narration (`owner`) as PlannedChunk rows, built once: a job reads them on every start."""
    return select(*_PLANNED).where(kind_of(kind).chunk_owner == bindparam("owner")).order_by(Chunk.idx)


@cache
def _insert_of(kind: str) -> Insert:
    return (
        insert(Chunk)
        .values({kind_of(kind).chunk_owner: bindparam("owner"), Chunk.idx: bindparam("i"), Chunk.text: bindparam("t")})
        .returning(Chunk.id, sort_by_parameter_order=True)
    )


def plan(
    session: Session,
    kind: str,
    row_id: int,
    texts_for: Callable[[list[str]], list[str]],
    *,
    none_yet: bool = False,
) -> tuple[list[str], list[PlannedChunk], list[str]]:
    """Make the row's chunks match `texts_for(the texts of its chunks so far)`, keeping every done
    chunk whose text is unchanged, in the caller's transaction (the claim's: one commit for both).

    Core statements built once per kind: this runs at the start of every job, where the ORM's
    per-statement work cost more than the round trips (bench/worker_overhead.py).

    `none_yet`: the caller knows the row has no chunks (its claim said so), so they are not read.

    Returns the texts, the chunks in order, and the audio paths of chunks that were dropped (to delete).
    """
    connection = session.connection()
    rows = () if none_yet else connection.execute(_planned_of(kind), {"owner": row_id})
    existing = {c.idx: c for c in (PlannedChunk(*row) for row in rows)}
    texts = texts_for([existing[idx].text for idx in sorted(existing)])
    if not texts:
        return texts, [], []
    dropped = [c for idx, c in existing.items() if idx >= len(texts) or c.text != texts[idx]]
    if dropped:
        connection.execute(delete(Chunk).where(Chunk.id.in_([c.id for c in dropped])))
    kept = {idx: c for idx, c in existing.items() if c not in dropped}
    missing = [(idx, text) for idx, text in enumerate(texts) if idx not in kept]
    if missing:
        ids = connection.execute(
            _insert_of(kind), [{"owner": row_id, "i": idx, "t": text} for idx, text in missing]
        ).scalars()
        for chunk_id, (idx, text) in zip(ids, missing, strict=True):
            kept[idx] = PlannedChunk(chunk_id, idx, text, False, None, None, None)
    return texts, [kept[idx] for idx in sorted(kept)], [c.audio_path for c in dropped if c.audio_path]


_RELAXED = func.set_config("synchronous_commit", "off", True).is_not(None)
"""Chunk bookkeeping need not wait for the WAL flush: if PostgreSQL itself crashed and lost the
last few hundred milliseconds of it, the chunk is simply requested again. (Claims and completions
keep full durability.) Set inside the statement, for the transaction of its own that autocommit
gives it, so the write is one round trip instead of BEGIN, SET LOCAL, the write and COMMIT."""

_COUNT_CALL = (
    update(Chunk)
    .where(Chunk.id == bindparam("chunk"), _RELAXED)
    .values(provider_calls=Chunk.provider_calls + 1, updated_at=func.now())
)

_MARK_DONE = (
    update(Chunk)
    .where(Chunk.id == bindparam("chunk"), _RELAXED)
    .values(
        status="done",
        audio_path=bindparam("p_audio_path"),
        sample_rate=bindparam("p_sample_rate"),
        seconds=bindparam("p_seconds"),
        request_id=bindparam("p_request_id"),
        characters_billed=bindparam("p_characters_billed"),
        error_message=None,
        updated_at=func.now(),
    )
)


def _write_relaxed(statement: Update, parameters: dict[str, Any]) -> None:
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(statement, parameters)


def count_call(chunk_id: int) -> None:
    """Count a provider request before it is sent, so even a crashed request shows up."""
    _write_relaxed(_COUNT_CALL, {"chunk": chunk_id})


def mark_done(
    chunk_id: int,
    *,
    audio_path: str,
    sample_rate: int,
    seconds: float,
    request_id: str | None,
    characters_billed: int | None,
) -> None:
    """Record a chunk's audio (its file is already written), so no later attempt pays for it again."""
    _write_relaxed(
        _MARK_DONE,
        {
            "chunk": chunk_id,
            "p_audio_path": audio_path,
            "p_sample_rate": sample_rate,
            "p_seconds": seconds,
            "p_request_id": request_id,
            "p_characters_billed": characters_billed,
        },
    )


def progress(session: Session, kind: str, row_id: int) -> tuple[int, int]:
    """(done, total) chunks of a narration; (0, 0) before it was planned."""
    done, total = session.execute(
        select(func.count().filter(Chunk.status == "done"), func.count()).where(kind_of(kind).owns(row_id))
    ).one()
    return int(done), int(total)
