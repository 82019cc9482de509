"""The job: turn one queued row into one audio file in the media store and its metadata in the row.

It takes the row's kind and id, claims the row before any work (a job delivered twice, or for a
row already done or cancelled, does nothing), and ends the row `completed`, `failed` with a
reason, or `queued` again with a later `next_attempt_at` when a provider kept failing briefly.

The same job runs a redo of passages of a completed row (db/redo.py): the row stays `completed`
with its audio throughout, and the redo ends swapped in, failed or queued again on its passages.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from rq import get_current_job
from sqlalchemy.exc import DBAPIError
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential_jitter

from db import events, redo
from db import lexicon as lexicon_rows
from db.engine import new_session
from db.lifecycle import ClaimedWork, claim, complete, fail, interruption, release, retry_later
from db.settings import get_settings
from workers.engine import metrics, qc, storage, validation
from workers.engine.encoding import Encoded, Preview, encode, preview
from workers.engine.fallback import try_fallback
from workers.engine.narrate import Interrupted, Narration, Plan, narrate, plan_chunks
from workers.engine.pronounce import Lexicon
from workers.engine.providers import registry
from workers.engine.providers.base import Permanent, Transient
from workers.engine.redo import renarrate
from workers.engine.store import media_store

log = logging.getLogger(__name__)

T = TypeVar("T")

shutting_down = threading.Event()
"""Set by the worker on SIGTERM: the running job hands its row back before its next chunk."""


def worker_identity() -> str:
    """Who processed a row: the RQ worker's name, or host:pid outside a worker."""
    job = get_current_job()
    if job is not None and job.worker_name:
        return str(job.worker_name)
    return f"{socket.gethostname()}.{os.getpid()}"


def _stop_reason(work: ClaimedWork) -> str | None:
    if shutting_down.is_set():
        return "the worker is shutting down"
    with new_session() as session:
        return interruption(session, work)


def _resolve(work: ClaimedWork) -> validation.Checked:
    """The model, voice, format and mastering profile to use, after the checks submit makes
    (`workers.engine.validation`): rows the Django side wrote never went through submit. A row that
    fails them fails before any request."""
    try:
        return validation.check_asked(get_settings(), work)
    except validation.Invalid as invalid:
        raise Permanent(str(invalid), reason="invalid") from None


def _release(work: ClaimedWork) -> None:
    with new_session() as session:
        release(session, work)


def _when_database_is_back(action: Callable[[], T]) -> T:
    """Run `action`, retrying while PostgreSQL is unreachable (up to ten minutes)."""
    retrying = Retrying(
        retry=retry_if_exception_type(DBAPIError),
        wait=wait_exponential_jitter(multiplier=0.5, max=10),
        stop=stop_after_delay(600),
        reraise=True,
    )
    return retrying(action)


def backoff(attempt: int) -> timedelta:
    """Exponential with full jitter: base × 2^(attempt-1), drawn uniformly from its upper half."""
    ceiling = get_settings().retry_base_seconds * 2 ** (attempt - 1)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter, not security


def _claim_and_plan(kind: str, row_id: int) -> tuple[ClaimedWork, tuple[validation.Checked, Plan] | Permanent] | None:
    """Claim the row and plan its chunks in one transaction (one commit where there were two);
    None when the row is not queued. A row refused before any request comes back claimed with the
    refusal, for the caller to fail."""
    with new_session() as session:
        work = claim(session, kind, row_id, worker=worker_identity())
        if work is None:
            return None
        try:
            checked = _resolve(work)
            plan = plan_chunks(session, work, checked.model)
        except Permanent as refused:
            session.commit()
            return work, refused
        session.commit()
    return work, (checked, plan)


def synthesize(kind: str, row_id: int) -> str:
    """RQ entry point. Returns a one-line outcome that RQ keeps as the job's result."""
    # A claim that failed committed nothing (its transaction is the whole of it), so it is tried
    # again once PostgreSQL answers; a connection that a restart broke fails once and is replaced.
    claimed = _when_database_is_back(lambda: _claim_and_plan(kind, row_id))
    if claimed is None:
        return _redo(kind, row_id)
    work, ready = claimed
    clock = metrics.JobClock(work.provider)
    try:
        return _synthesize(work, ready, clock)
    except DBAPIError as error:
        # PostgreSQL went away mid-job, or while recording how it ended. Keep the chunks, and hand
        # the row back as soon as the database answers again, so the reconciler re-enqueues it;
        # this attempt does not count. Left `processing`, the row would wait for a live worker
        # that is done with it. The release is fenced: if the ending did commit, it changes nothing.
        log.warning("database error during %s #%s (%s); handing the row back once it is reachable", kind, row_id, error)
        _when_database_is_back(lambda: _release(work))
        clock.ended("stopped")
        return f"{kind} #{row_id}: database unavailable mid-job; handed back"


def _synthesize(work: ClaimedWork, ready: tuple[validation.Checked, Plan] | Permanent, clock: metrics.JobClock) -> str:
    """Narrate a claimed row (planned, or refused before any request) and record how it ended, in
    the row and on `clock`; a DBAPIError is the caller's to handle."""
    settings = get_settings()
    kind, row_id = work.kind, work.row_id
    try:
        if isinstance(ready, Permanent):
            raise ready
        checked, plan = ready
        narration = narrate(
            work,
            plan,
            provider=registry.get(work.provider),
            checked=checked,
            store=media_store(),
            concurrency=registry.concurrency(work.provider),
            tries=settings.chunk_tries,
            interruption=lambda: _stop_reason(work),
            gate=registry.gate(work.provider),
            slots=registry.account_slots(work.provider),
        )
        encoded, shown, relative = _store(work, narration, checked)
    except DBAPIError:
        raise  # not a crash of the synthesis: `synthesize` hands the row back
    except Interrupted as stop:
        if shutting_down.is_set():
            _release(work)
        clock.ended("stopped")
        return f"{kind} #{row_id}: stopped, {stop}"
    except Permanent as error:
        fallen = try_fallback(work, error, retries_left=False)
        if fallen.fell_back:
            clock.ended("fallback", error.reason)
            return fallen.said
        with new_session() as session:
            fail(session, work, " ".join(filter(None, [str(error), fallen.said])))
        clock.ended("failed", error.reason)
        return f"{kind} #{row_id}: failed: {error}"
    except Transient as error:
        retries_left = work.attempt < work.max_attempts
        fallen = try_fallback(work, error, retries_left=retries_left)
        if fallen.fell_back:
            clock.ended("fallback", error.reason)
            return fallen.said
        with new_session() as session:
            if not retries_left:
                gave_up = f"Gave up after {work.attempt} attempts: {error} Retry it later."
                fail(session, work, " ".join(filter(None, [gave_up, fallen.said])))
                clock.ended("failed", error.reason)
                return f"{kind} #{row_id}: failed after {work.attempt} attempts"
            delay = backoff(work.attempt)
            retry_later(session, work, f"Attempt {work.attempt} failed: {error} Retrying automatically.", delay=delay)
        clock.ended("retry")
        return f"{kind} #{row_id}: will retry in {delay.total_seconds():.0f} s"
    except Exception as error:
        log.exception("synthesis of %s #%s crashed", kind, row_id)
        with new_session() as session:
            fail(
                session,
                work,
                f"Synthesis crashed ({type(error).__name__}). Retry; if it happens again, tell whoever runs "
                "the workers and quote this narration's id.",
            )
        clock.ended("failed", "crash")
        raise
    metadata = _metadata(work, checked, narration, encoded, shown)
    with new_session() as session:
        kept = complete(
            session,
            work,
            audio_file=relative,
            base64_audio=shown.base64,
            duration_seconds=encoded.seconds,
            metadata=metadata,
        )
    if not kept:
        storage.remove(media_store(), [("audio", relative)])
        clock.ended("discarded")
        return f"{kind} #{row_id}: taken away while synthesizing (cancelled?); audio discarded"
    _record_lexicon(work, plan.lexicon, plan.texts, None)
    clock.ended("completed")
    return f"{kind} #{row_id}: completed, {encoded.seconds:.1f} s"


def _record_lexicon(work: ClaimedWork, lexicon: Lexicon, said: list[str], redone: list[int] | None) -> None:
    """Record which entries the passages just narrated (`said`: all of them, or the `redone` ones)
    were narrated with, at their versions, as a LEXICON_APPLIED event, and clear the marks they answer.
    Only a completed narration is ever marked, so a first completion has no mark to clear, and one
    that used no entry costs no transaction here."""
    used = lexicon.found(" ".join(said))
    if not used and redone is None:
        return
    with new_session() as session:
        if used:
            lexicon_rows.applied(session, work.kind, work.row_id, used)
            listed = "; ".join(f"{e.term} → {e.respelling} (v{e.version}, {n}×)" for e, n in used.items())
            applied = events.What.LEXICON_APPLIED
            events.record(session, work.kind, work.row_id, applied, worker=work.worker, message=listed)
        if redone is not None:
            lexicon_rows.clear_marks(session, work.kind, work.row_id, redone)
        session.commit()


def _store(work: ClaimedWork, narration: Narration, checked: validation.Checked) -> tuple[Encoded, Preview, str]:
    """Encode the mastered audio in the row's format (or the one its profile requires), cut its
    preview, and write the file (atomically, so a reader sees the old file or the new one); the row
    is pointed at it only afterwards."""
    settings = get_settings()
    fmt = checked.output_format
    kbps = checked.profile.mp3_kbps
    encoded = encode(narration.samples, narration.sample_rate, fmt, mp3_kbps=kbps)
    shown = preview(narration.samples, narration.sample_rate, fmt, encoded, settings.preview_max_bytes, mp3_kbps=kbps)
    relative = storage.relative_path(work.kind, work.row_id, fmt)
    media_store().write(relative, encoded.data, "audio")
    return encoded, shown, relative


def _metadata(
    work: ClaimedWork, checked: validation.Checked, narration: Narration, encoded: Encoded, shown: Preview
) -> dict[str, object]:
    return {
        **encoded.metadata(),
        "provider": work.provider,
        "model": checked.model.id,
        "voice": checked.voice,
        "characters": len(work.prompt),
        "characters_billed": narration.characters_billed,
        "chunks": len(narration.chunk_seconds),
        "chunk_seconds": [round(s, 3) for s in narration.chunk_seconds],
        "provider_calls": narration.provider_calls,
        "preview_seconds": round(shown.seconds, 3),
        "preview_truncated": shown.truncated,
        "attempt": work.attempt,
        "mastering": narration.mastering,
        "qc": _quality(work, narration, checked.profile.checks),
    }


def _quality(work: ClaimedWork, narration: Narration, required: qc.Requirements) -> dict[str, object] | None:
    """The quality checks (`workers.engine.qc`) on the joined samples, then, when the row asks for it, the
    listen-back check on every passage (a redo hears them all again: the stored check then describes
    the audio now stored, under today's model and threshold); None if measuring crashed: a narration
    that was paid for and encoded is kept even when its measurement fails."""
    try:
        quality = qc.measure(narration.samples, narration.sample_rate, narration.passages, required)
    except Exception:
        log.exception("the quality checks of %s #%s crashed; the narration is kept", work.kind, work.row_id)
        return None
    if work.listen_back:
        from workers.engine import listen_back

        try:
            listen_back.annotate(quality, narration.samples, narration.sample_rate, narration.passages, get_settings())
        except Exception:
            log.exception("the listen-back check of %s #%s crashed; the narration is kept", work.kind, work.row_id)
    return quality


def _redo_stop(work: ClaimedWork) -> str | None:
    if shutting_down.is_set():
        return "the worker is shutting down"
    with new_session() as session:
        return redo.interruption(session, work)


def _redo_release(work: ClaimedWork) -> None:
    with new_session() as session:
        redo.release(session, work)


def _redo_fail(work: ClaimedWork, message: str, written: list[str]) -> None:
    """End the redo failed (the narration keeps its audio) and delete the files it made."""
    with new_session() as session:
        files = redo.fail(session, work, message)
    storage.remove(media_store(), [("chunk", p) for p in {*files, *written}])


def _redo(kind: str, row_id: int) -> str:
    """Run a queued redo of a completed row, if there is one: the row keeps its status and audio
    until the new audio is swapped in, in one fenced transaction; the old files go after that."""
    with new_session() as session:
        claimed = redo.claim(session, kind, row_id, worker=worker_identity())
    if claimed is None:
        return f"{kind} #{row_id}: not queued any more, nothing to do"
    work, passages = claimed
    clock = metrics.JobClock(work.provider)
    try:
        return _run_redo(work, passages, clock)
    except DBAPIError as error:  # as in `synthesize`: the redo goes back to queued, the row stays completed
        log.warning("database error during the redo of %s #%s (%s); handing it back", kind, row_id, error)
        _when_database_is_back(lambda: _redo_release(work))
        clock.ended("stopped")
        return f"{kind} #{row_id}: database unavailable mid-redo; handed back"


def _run_redo(work: ClaimedWork, passages: list[redo.Passage], clock: metrics.JobClock) -> str:
    """Re-narrate the claimed redo's passages and record how it ended (also on `clock`); a
    DBAPIError is the caller's."""
    settings = get_settings()
    kind, row_id = work.kind, work.row_id
    written: list[str] = []
    with new_session() as session:
        lexicon = Lexicon(lexicon_rows.entries_of_narration(session, kind, row_id))
    try:
        checked = _resolve(work)
        narration = renarrate(
            work,
            passages,
            lexicon=lexicon,
            provider=registry.get(work.provider),
            checked=checked,
            store=media_store(),
            tries=settings.chunk_tries,
            interruption=lambda: _redo_stop(work),
            gate=registry.gate(work.provider),
            slots=registry.account_slots(work.provider),
            written=written,
        )
        encoded, shown, relative = _store(work, narration, checked)
    except DBAPIError:
        raise  # not a crash of the redo: `_redo` hands it back
    except Interrupted as stop:
        if shutting_down.is_set():
            _redo_release(work)
        clock.ended("stopped")
        return f"{kind} #{row_id}: redo stopped, {stop}"
    except Permanent as error:
        _redo_fail(work, str(error), written)
        clock.ended("failed", error.reason)
        return f"{kind} #{row_id}: redo failed: {error}"
    except Transient as error:
        if work.attempt >= work.max_attempts:
            _redo_fail(work, f"Gave up after {work.attempt} attempts: {error} Redo it later.", written)
            clock.ended("failed", error.reason)
            return f"{kind} #{row_id}: redo failed after {work.attempt} attempts"
        delay = backoff(work.attempt)
        with new_session() as session:
            redo.retry_later(session, work, f"Attempt {work.attempt} failed: {error} Retrying.", delay=delay)
        clock.ended("retry")
        return f"{kind} #{row_id}: redo will retry in {delay.total_seconds():.0f} s"
    except Exception as error:
        log.exception("the redo of %s #%s crashed", kind, row_id)
        crashed = f"The redo crashed ({type(error).__name__}). Try again; if it happens again, tell whoever runs "
        _redo_fail(work, crashed + "the workers and quote this narration's id.", written)
        clock.ended("failed", "crash")
        raise
    with new_session() as session:
        replaced = redo.swap(
            session,
            work,
            audio_file=relative,
            base64_audio=shown.base64,
            duration_seconds=encoded.seconds,
            metadata=_metadata(work, checked, narration, encoded, shown),
            characters_billed=narration.characters_billed,
        )
    if replaced is None:
        storage.remove(media_store(), [("audio", relative)])
        clock.ended("discarded")
        return f"{kind} #{row_id}: redo taken away while synthesizing (cancelled?); its audio discarded"
    for refusal in storage.remove(media_store(), replaced).refused:
        log.warning("%s #%s: a replaced file was left in place: %s", kind, row_id, refusal)
    redone = [p for p in passages if p.redone]
    _record_lexicon(work, lexicon, [p.text for p in redone], [p.idx for p in redone])
    clock.ended("completed")
    return f"{kind} #{row_id}: redo completed, {encoded.seconds:.1f} s"
