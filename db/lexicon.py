"""The pronunciation lexicon's rows (`tts_lexicon_entry`, `tts_narration_lexicon`, `tts_lexicon_mark`).

An entry belongs to one project or (no project) to all; a project's own entry for a term wins over
the global one. Saving or deleting an entry bumps its version and marks every completed narration
in its scope that holds the term, with the passages that hold it, so staff can narrate just those
again; a redo of those passages (or a new narration) records the entries it used and clears the
mark. Matching follows `workers/engine/pronounce.py` (whole words, any case); in SQL a regular
expression finds the narrations, then each passage is matched in Python the same way.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, literal, not_, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.models import Chunk, LexiconEntry, LexiconMark, NarrationLexicon, PronunciationDictionary, Status, Story, User
from db.narrations import KINDS, NarrationKind, kind_of


@dataclass(frozen=True)
class Entry:
    """A term and how to say it, at a version (what `workers/engine/pronounce.py` applies)."""

    id: int
    term: str
    respelling: str
    version: int
    project_id: int | None = None
    """None: a global entry."""
    ipa: str | None = None
    """How to say it in IPA, where the model takes phoneme rules (else the respelling is sent)."""


@dataclass(frozen=True)
class Row:
    """An entry as the lexicon editor lists it."""

    id: int
    project_id: int | None
    term: str
    respelling: str
    version: int
    updated_at: datetime
    updated_by: str | None
    ipa: str | None


@dataclass(frozen=True)
class Marked:
    """A completed narration to narrate again because an entry changed."""

    kind: str
    narration_id: int
    term: str
    passages: tuple[int, ...]
    """0-based; empty when the narration has no passages on record (narrate it all again)."""


def _live() -> ColumnElement[bool]:
    return LexiconEntry.deleted_at.is_(None)


def _entries(session: Session, project: ColumnElement[Any] | None) -> list[Entry]:
    """The live global entries and those of `project` (an id, or a subquery giving one), a
    project's own entry winning over a global one for the same term."""
    scope: ColumnElement[bool] = LexiconEntry.project_id.is_(None)
    if project is not None:
        scope = or_(scope, LexiconEntry.project_id == project)
    found = session.execute(
        select(
            LexiconEntry.id,
            LexiconEntry.term,
            LexiconEntry.respelling,
            LexiconEntry.version,
            LexiconEntry.project_id,
            LexiconEntry.ipa,
        )  # the order of Entry's fields
        .where(_live(), scope)
        .order_by(LexiconEntry.project_id.is_(None), LexiconEntry.term_key)  # the project's own first
    ).all()
    seen: set[str] = set()
    kept = []
    for row in found:
        if row.term.casefold() not in seen:
            seen.add(row.term.casefold())
            kept.append(Entry(*row))
    return kept


def entries(session: Session, project_id: int | None) -> list[Entry]:
    """The entries that apply to a narration of the project (its own, and the global ones it does
    not override); the global ones only, for a narration of no project."""
    return _entries(session, literal(project_id) if project_id is not None else None)


def entries_of_narration(session: Session, kind: str, row_id: int) -> list[Entry]:
    """`entries` for the project the narration belongs to (through its story), in one round trip:
    every job reads them when it plans its passages."""
    k = kind_of(kind)
    project = k.with_story(select(Story.project_id).select_from(k.model)).where(k.model.id == row_id)
    return _entries(session, project.scalar_subquery())


def listed(session: Session, project_id: int | None) -> list[Row]:
    """The editor's table: the entries of exactly this scope (a project's own, or the global ones)."""
    scope = LexiconEntry.project_id == project_id if project_id is not None else LexiconEntry.project_id.is_(None)
    rows = session.execute(
        select(
            LexiconEntry.id, LexiconEntry.project_id, LexiconEntry.term, LexiconEntry.respelling,
            LexiconEntry.version, LexiconEntry.updated_at, User.username, LexiconEntry.ipa,
        )
        .outerjoin(User, User.id == LexiconEntry.updated_by_id)
        .where(_live(), scope)
        .order_by(LexiconEntry.term_key)
    ).all()  # fmt: skip
    return [Row(*row) for row in rows]


def save(
    session: Session, project_id: int | None, term: str, respelling: str, *, ipa: str | None = None, user_id: int | None
) -> int:
    """Add the entry, or change the one for that term in that scope (its version bumps); its id.
    The caller marks the narrations it changes (`mark`) and commits."""
    values = {"term": term, "respelling": respelling, "ipa": ipa, "updated_by_id": user_id, "deleted_at": None}
    statement = insert(LexiconEntry).values(project_id=project_id, term_key=term.casefold(), **values)
    return int(
        session.execute(
            statement.on_conflict_do_update(
                constraint="uq_tts_lexicon_entry_term",
                set_={**values, "version": LexiconEntry.version + 1, "updated_at": func.now()},
            ).returning(LexiconEntry.id)
        ).scalar_one()
    )


def remove(session: Session, entry_id: int, *, user_id: int | None) -> str | None:
    """Mark the entry deleted (its version bumps); its term, or None when there was no such entry."""
    return session.execute(
        update(LexiconEntry)
        .where(LexiconEntry.id == entry_id, _live())
        .values(deleted_at=func.now(), version=LexiconEntry.version + 1, updated_at=func.now(), updated_by_id=user_id)
        .returning(LexiconEntry.term)
    ).scalar()


def _word(term: str) -> str:
    """The term as a PostgreSQL regular expression for a whole word (Python's `\\w` boundaries)."""
    escaped = re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", term)
    return rf"(^|[^[:alnum:]_]){escaped}($|[^[:alnum:]_])"


def _in_scope(kind: NarrationKind, entry: LexiconEntry) -> ColumnElement[bool]:
    """The narrations the entry applies to: its project's, or for a global entry every narration
    but those of projects with their own entry for the term."""
    if entry.project_id is not None:
        return kind.in_project(entry.project_id)
    own = select(LexiconEntry.project_id).where(
        LexiconEntry.term_key == entry.term_key, LexiconEntry.project_id.is_not(None), _live()
    )
    return not_(kind.in_project(own))


def mark(session: Session, entry_id: int, holds: Callable[[str], bool]) -> list[Marked]:
    """Mark the completed narrations in the entry's scope whose text holds its term, each with the
    passages that hold it (`holds` says whether a passage's text does, as the lexicon matches).
    Two queries per kind, however many narrations hold the term: theirs, then all their passages."""
    entry = session.get_one(LexiconEntry, entry_id)
    marked: list[Marked] = []
    for kind in KINDS.values():
        model = kind.model
        ids = session.scalars(
            select(model.id).where(
                model.status == Status.COMPLETED,
                model.prompt.regexp_match(_word(entry.term), "i"),
                _in_scope(kind, entry),
            )
        ).all()
        texts: defaultdict[int | None, list[tuple[int, str]]] = defaultdict(list)
        found = select(kind.chunk_owner, Chunk.idx, Chunk.text).where(kind.chunk_owner.in_(ids)).order_by(Chunk.idx)
        for owner, idx, text in session.execute(found) if ids else ():
            texts[owner].append((idx, text))
        for row_id in ids:
            said = texts[row_id]
            passages = tuple(idx for idx, text in said if holds(text))
            if said and not passages:
                continue  # the word is split across two passages' edges: nothing a passage says holds it
            values = {"version": entry.version, "passages": list(passages), "marked_at": func.now()}
            session.execute(
                insert(LexiconMark)
                .values(narration_kind=kind.name, narration_id=row_id, entry_id=entry.id, **values)
                .on_conflict_do_update(index_elements=["narration_kind", "narration_id", "entry_id"], set_=values)
            )
            marked.append(Marked(kind.name, row_id, entry.term, passages))
    return marked


def marks(session: Session, project_id: int | None = None) -> list[Marked]:
    """The narrations waiting to be narrated again, newest mark first (a project's, or all)."""
    found = []
    for kind in KINDS.values():
        query = (
            select(LexiconMark.narration_id, LexiconEntry.term, LexiconMark.passages)
            .join(LexiconEntry, LexiconEntry.id == LexiconMark.entry_id)
            .join(kind.model, kind.model.id == LexiconMark.narration_id)
            .where(LexiconMark.narration_kind == kind.name)
            .order_by(LexiconMark.marked_at.desc())
        )
        if project_id is not None:
            query = query.where(kind.in_project(project_id))
        found += [Marked(kind.name, row_id, term, tuple(passages)) for row_id, term, passages in session.execute(query)]
    return found


def dictionary(session: Session, rules_key: str) -> tuple[str, str] | None:
    """The ElevenLabs dictionary (id, version) already made for these rules, if one was."""
    found = session.get(PronunciationDictionary, rules_key)
    return (found.dictionary_id, found.version_id) if found is not None else None


def keep_dictionary(session: Session, rules_key: str, made: tuple[str, str]) -> None:
    """Remember a dictionary just made for these rules (the caller commits; a twin made at the same
    moment by another worker is kept instead: either says the same)."""
    session.execute(
        insert(PronunciationDictionary)
        .values(rules_key=rules_key, dictionary_id=made[0], version_id=made[1])
        .on_conflict_do_nothing()
    )


def applied(session: Session, kind: str, row_id: int, used: Iterable[Entry]) -> None:
    """Record the entries a narration was just narrated with, at their versions (the caller commits)."""
    for entry in used:
        values = {"version": entry.version, "at": func.now()}
        session.execute(
            insert(NarrationLexicon)
            .values(narration_kind=kind, narration_id=row_id, entry_id=entry.id, **values)
            .on_conflict_do_update(index_elements=["narration_kind", "narration_id", "entry_id"], set_=values)
        )


def clear_marks(session: Session, kind: str, row_id: int, passages: Iterable[int]) -> None:
    """Clear the narration's marks whose passages the passages just narrated again all cover."""
    session.execute(
        delete(LexiconMark).where(
            LexiconMark.narration_kind == kind,
            LexiconMark.narration_id == row_id,
            LexiconMark.passages.contained_by(sorted(set(passages))),
        )
    )
