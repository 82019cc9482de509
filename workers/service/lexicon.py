"""The pronunciation lexicon as staff edit it: add or change an entry, remove one, and narrate again
the passages of completed narrations an entry change marked. Each returns a sentence; who may edit
is read afresh (`workers/service/access.py`)."""

from __future__ import annotations

from db import lexicon
from db.engine import new_session
from db.models import Project
from workers.engine.pronounce import Lexicon
from workers.service import actions
from workers.service.access import refusal
from workers.service.roles import SignedIn

MAX_TERM_CHARS = 200
MAX_RESPELLING_CHARS = 400


def _problem(term: str, respelling: str) -> str | None:
    if not term or not any(ch.isalnum() for ch in term):
        return "Write the term as the text spells it (a name, a word): it needs at least one letter or digit."
    if len(term) > MAX_TERM_CHARS:
        return f"A term takes at most {MAX_TERM_CHARS} characters."
    if not respelling:
        return f"Write how to say “{term}”: a respelling every voice reads the same way (“EE-fa” for Aoife)."
    if len(respelling) > MAX_RESPELLING_CHARS:
        return f"A respelling takes at most {MAX_RESPELLING_CHARS} characters."
    return None


def _marked(marked: list[lexicon.Marked]) -> str:
    """What an entry change marked, as a sentence."""
    if not marked:
        return "No completed narration holds it, so nothing needs narrating again."
    count = len(marked)
    return (
        f"{count:,} completed narration{'s' if count > 1 else ''} hold{'' if count > 1 else 's'} it: narrate their "
        "passages that say it again from the list below (only those passages are paid for)."
    )


def save_entry(project_id: int | None, term: str, respelling: str, user: SignedIn, ipa: str = "") -> str:
    """Add the entry or change it (its version bumps), and mark the completed narrations holding it.
    `ipa` (optional): how to say it in IPA, for models that take phoneme rules."""
    if refused := refusal(user.user_id, "edit the lexicon"):
        return refused
    term, respelling, ipa = term.strip(), respelling.strip(), ipa.strip()
    if problem := _problem(term, respelling):
        return problem
    if len(ipa) > MAX_RESPELLING_CHARS:
        return f"The IPA takes at most {MAX_RESPELLING_CHARS} characters."
    with new_session() as session:
        if project_id is not None and session.get(Project, project_id) is None:
            return f"Project #{project_id} no longer exists."
        entry_id = lexicon.save(session, project_id, term, respelling, ipa=ipa or None, user_id=user.user_id)
        matcher = Lexicon([lexicon.Entry(entry_id, term, respelling, 0)])
        marked = lexicon.mark(session, entry_id, lambda text: bool(matcher.found(text)))
        session.commit()
    return f"Saved “{term}” → “{respelling}”. {_marked(marked)}"


def remove_entry(entry_id: int, user: SignedIn) -> str:
    """Remove the entry (narrations that used it are marked: they now say the term as written)."""
    if refused := refusal(user.user_id, "edit the lexicon"):
        return refused
    with new_session() as session:
        term = lexicon.remove(session, entry_id, user_id=user.user_id)
        if term is None:
            return "That entry was already removed."
        matcher = Lexicon([lexicon.Entry(entry_id, term, term, 0)])
        marked = lexicon.mark(session, entry_id, lambda text: bool(matcher.found(text)))
        session.commit()
    return f"Removed “{term}”; it is said as written from now on. {_marked(marked)}"


def renarrate(marked: lexicon.Marked, user: SignedIn) -> str:
    """Narrate again the passages of one marked narration that hold the term (a redo of just those)."""
    if not marked.passages:
        return (
            f"{marked.kind.title()} narration #{marked.narration_id} has no passages on record; duplicate it to "
            "narrate it again with the lexicon."
        )
    return actions.redo_passages(marked.kind, marked.narration_id, marked.passages, user)
