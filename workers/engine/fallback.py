"""A project's fallback voice: when the voice asked for fails for account reasons, the row is
narrated again with the fallback instead of failing.

Account reasons are the provider's, not the text's: a rejected key, an exhausted quota, a provider
not set up, or a provider still failing after every retry (timeouts, 5xx, rate limits, garbage).
A refusal of the text (a policy refusal, text a model cannot take, an unknown voice) is the text's
or the request's: another voice would not help, or would say something nobody approved, so it
fails as before. A row falls back once: a fallback that fails too fails the row. The fallback is
checked as submit checks a voice (set up, known, taking the row's format and profile) and priced
under the same budget rule (REFUSE_OVER_BUDGET) before it is used; when it cannot be, the row fails
and the failure says why the fallback was not used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from redis.exceptions import RedisError

from db.engine import new_session
from db.lifecycle import ClaimedWork, fall_back
from db.narrations import get
from db.project_settings import Voice, rules_of_narration
from db.settings import get_settings
from workers.engine import budget, catalogue, storage, validation
from workers.engine.providers.base import ProviderError, Transient
from workers.engine.queue import enqueue, new_task_id
from workers.engine.store import media_store

log = logging.getLogger(__name__)

ACCOUNT_REASONS = frozenset({"auth", "quota", "not_configured"})
"""A Permanent error's reasons that are the account's, not the text's."""


def for_the_account(error: ProviderError, *, retries_left: bool) -> bool:
    """Whether the failure is the account's or the provider's (so another voice may succeed): a
    passing error only once the row has no attempt left, a permanent one by its reason."""
    if isinstance(error, Transient):
        return not retries_left
    return error.reason in ACCOUNT_REASONS


@dataclass(frozen=True)
class Outcome:
    fell_back: bool
    said: str
    """The job's result line when it fell back; else why the fallback was not used ("" when the
    project has none), for the failure's message."""


def _delivery(work: ClaimedWork, checked: validation.Checked, provider: str) -> dict[str, object]:
    """Tone instructions and speed as the fallback takes them (dropped where it takes none)."""
    return {
        "instructions": work.instructions if checked.model.takes_instructions else None,
        "speed": work.speed if provider == "openai" else None,
    }


def _usable(work: ClaimedWork, to: Voice) -> tuple[validation.Checked | None, str]:
    """The fallback as the row would use it, or None and why it cannot be used."""
    settings = get_settings()
    trial = replace(work, provider=to.provider, model=to.model, voice=to.voice, instructions=None, speed=None)
    try:
        checked = validation.check_asked(settings, trial)
    except validation.Invalid as invalid:
        return None, f"The project's fallback voice was not used: {invalid}"
    heard_with = settings.listen_back_model if work.listen_back else None
    cost = catalogue.narration_cost_usd(checked.model, len(work.prompt), listen_back_model=heard_with)
    if over := budget.refusal(settings, cost):
        return None, f"The project's fallback voice was not used: {over}"
    return checked, ""


def try_fallback(work: ClaimedWork, error: ProviderError, *, retries_left: bool) -> Outcome:
    """Hand the row to its project's fallback voice when the failure is the account's and the
    fallback can be used; enqueue it (or leave it queued for the reconciler if Redis is away)."""
    if not for_the_account(error, retries_left=retries_left):
        return Outcome(False, "")
    with new_session() as session:
        row = get(session, work.kind, work.row_id)
        project = rules_of_narration(session, work.kind, work.row_id)
    to = project.fallback if project else None
    if row is None or row.fell_back_from is not None or to is None:
        return Outcome(False, "")
    if (to.provider, to.model, to.voice) == (work.provider, work.model, work.voice):
        return Outcome(False, "")
    checked, why_not = _usable(work, to)
    if checked is None:
        return Outcome(False, why_not)
    task_id = new_task_id()
    with new_session() as session:
        dropped = fall_back(
            session, work, to, delivery=_delivery(work, checked, to.provider), why=str(error), task_id=task_id
        )
    if dropped is None:
        return Outcome(False, "")
    storage.remove(media_store(), [("chunk", path) for path in dropped])
    try:
        enqueue(work.kind, work.row_id, task_id=task_id, priority=work.priority)
    except RedisError as unreachable:  # queued in PostgreSQL: the reconciler sends it once Redis is back
        log.warning("enqueue of the fallback of %s #%s failed: %s", work.kind, work.row_id, unreachable)
    return Outcome(True, f"{work.kind} #{work.row_id}: {error.reason}; handed to the fallback voice {to.label}")
