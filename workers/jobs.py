"""The job: turn one queued row into audio on disk and in the row.

It takes the row's kind and id, opens its own session, and claims the row before any work, so a
job delivered twice (or for a row that was cancelled) does nothing the second time.
"""

from __future__ import annotations

import logging
import os
import socket

from rq import get_current_job

from db.engine import new_session
from db.lifecycle import ClaimedWork, claim, complete, fail
from db.settings import get_settings
from workers import local_voice, storage
from workers.audio import UnreadableAudio, wav_info, wav_preview

log = logging.getLogger(__name__)


class SynthesisError(RuntimeError):
    """A failure whose message is fit for `error_message`: what happened and what to do."""


def worker_identity() -> str:
    """Who processed a row: the RQ worker's name, or host:pid outside a worker."""
    job = get_current_job()
    if job is not None and job.worker_name:
        return str(job.worker_name)
    return f"{socket.gethostname()}:{os.getpid()}"


def _speak(work: ClaimedWork) -> bytes:
    if work.provider == "local":
        return local_voice.synthesize_wav(work.prompt)
    raise SynthesisError(
        f"This worker cannot synthesize with provider {work.provider!r} yet. "
        "Re-narrate with the local voice, or run a Narration Desk version that supports it."
    )


def synthesize(kind: str, row_id: int) -> str:
    """RQ entry point. Returns a one-line outcome that RQ keeps as the job's result."""
    settings = get_settings()
    with new_session() as session:
        work = claim(session, kind, row_id, worker=worker_identity())
        if work is None:
            return f"{kind} #{row_id}: not queued any more, nothing to do"
        try:
            if not work.prompt.strip():
                raise SynthesisError("The text is empty. Write the text to narrate, then retry.")
            audio = _speak(work)
            info = wav_info(audio)
            if info.frames == 0:
                raise SynthesisError("The voice produced no audio for this text. Check the text, then retry.")
            preview = wav_preview(audio, settings.preview_max_bytes)
            relative = storage.relative_path(kind, row_id, info.format)
            storage.write_atomically(settings.media_path, relative, audio)
        except (SynthesisError, UnreadableAudio) as error:
            fail(session, work, str(error))
            return f"{kind} #{row_id}: failed: {error}"
        except Exception as error:
            log.exception("synthesis of %s #%s crashed", kind, row_id)
            fail(
                session,
                work,
                f"Synthesis crashed ({type(error).__name__}: {error}). Retry; if it repeats, "
                "tell whoever runs the workers and quote this narration's id.",
            )
            raise
        metadata = {
            **info.as_metadata(),
            "provider": work.provider,
            "model": work.model,
            "voice": work.voice,
            "characters_billed": 0 if work.provider == "local" else len(work.prompt),
            "characters": len(work.prompt),
            "preview_seconds": round(preview.seconds, 3),
            "preview_truncated": preview.truncated,
            "attempt": work.attempt,
        }
        kept = complete(
            session,
            work,
            audio_file=relative,
            base64_audio=preview.base64,
            duration_seconds=info.duration_seconds,
            metadata=metadata,
        )
        if not kept:
            (settings.media_path / relative).unlink(missing_ok=True)
            return f"{kind} #{row_id}: taken away while synthesizing (cancelled?); audio discarded"
        return f"{kind} #{row_id}: completed, {info.duration_seconds:.1f} s"
