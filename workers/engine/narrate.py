"""Narrating one claimed row: plan its chunks, synthesize the missing ones in parallel, join them.

Chunks that a previous attempt finished are in the media store (a folder or a bucket every worker
host reads) and marked done, so a retry (after a crash,
a rate limit, a shutdown) only pays for the rest. Transient provider errors are retried per chunk
with exponential backoff and jitter, honouring Retry-After; waiting for a free concurrency slot
(`Busy`) does not use up a try. Where the account's concurrency is shared out among the workers
(`workers/engine/slots.py`), each request first waits for a slot there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace

import numpy as np
from sqlalchemy.orm import Session
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from db import chunks, events
from db import lexicon as lexicon_rows
from db.lifecycle import ClaimedWork
from db.settings import get_settings
from workers.engine import mastering, metrics, phonemes, qc, storage
from workers.engine.catalogue import Model
from workers.engine.chunking import split, still_fits
from workers.engine.gates import ProviderGate
from workers.engine.mastering import Profile
from workers.engine.media import RefusedPath
from workers.engine.pronounce import EMPTY, Lexicon
from workers.engine.providers.base import (
    Busy,
    ChunkAudio,
    ChunkRequest,
    Permanent,
    Provider,
    Transient,
    wait_honouring_retry_after,
)
from workers.engine.slots import AccountSlots
from workers.engine.store import MediaStore
from workers.engine.validation import Checked

log = logging.getLogger(__name__)

CONTEXT_CHARS = 300
"""How much of the neighbouring chunks is sent as `previous_text` / `next_text` for continuity."""

READERS = 8
"""Passages read back at once when a job resumes: a bucket answers each GET in tens of milliseconds,
so an hour's 180 passages one after another would cost seconds of waiting on the network."""

MAX_CHUNK_WAIT_SECONDS = 30.0
"""The longest wait between two tries of a chunk (a longer Retry-After is still waited out)."""


class Interrupted(Exception):
    """Work stopped on purpose (cancelled, taken over, shutting down); the message says which."""


@dataclass(frozen=True)
class Narration:
    """The joined audio of every chunk and what it cost."""

    samples: np.ndarray
    sample_rate: int
    chunk_seconds: list[float]
    characters_billed: int
    provider_calls: int
    passages: list[qc.Passage]
    """Where each passage lies in `samples` and what it reads, for the quality checks."""
    mastering: dict[str, object]
    """What mastering did (workers/engine/mastering.py), for the row's metadata."""

    @classmethod
    def mastered(
        cls,
        work: ClaimedWork,
        profile: Profile,
        pieces: list[tuple[bytes, int]],
        texts: list[str],
        *,
        chunk_seconds: list[float],
        characters_billed: int,
        provider_calls: int,
    ) -> Narration:
        """The passages (PCM, sample rate), mastered with `profile` into one narration."""
        done = mastering.master_passages(
            [pcm for pcm, _ in pieces], [rate for _, rate in pieces], texts, work.prompt, profile, get_settings()
        )
        return cls(
            done.samples,
            done.sample_rate,
            chunk_seconds,
            characters_billed,
            provider_calls,
            [qc.Passage(start, end, text) for (start, end), text in zip(done.spans, texts, strict=True)],
            done.metadata,
        )


@dataclass
class ChunkJob:
    """Requests for one claimed narration's chunks: retries, backoff, slots, and the stop checks."""

    work: ClaimedWork
    provider: Provider
    model: Model
    voice: str
    store: MediaStore
    tries: int
    interruption: Callable[[], str | None]
    gate: ProviderGate | None = None
    """This worker's places for requests to the provider, shared with the other jobs it holds."""
    slots: AccountSlots | None = None
    lexicon: Lexicon = EMPTY
    """Applied to each passage (and its neighbours' context) as it is sent."""
    dictionary: tuple[str, str] | None = None
    """An ElevenLabs pronunciation dictionary named in every request (`workers/engine/phonemes.py`)."""
    abort: threading.Event = field(default_factory=threading.Event)
    checked_at: float = field(default_factory=time.monotonic)

    def check(self) -> None:
        """Stop if another chunk failed, or (asked every CANCEL_CHECK_SECONDS) the row is no longer ours."""
        if self.abort.is_set():
            raise Interrupted("another chunk failed")
        if time.monotonic() - self.checked_at >= get_settings().cancel_check_seconds:
            self.checked_at = time.monotonic()
            reason = self.interruption()
            if reason:
                raise Interrupted(reason)

    def sleep(self, seconds: float) -> None:
        """Back off, but stop early if the job is cancelled or the worker is shutting down."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.check()
            time.sleep(min(left, 0.5))

    @contextmanager
    def slot(self) -> Iterator[None]:
        """A place in this worker's gate for the provider, then one of the account's shared slots
        where a limit is set (waiting for each, stopping if the job should stop)."""
        with (
            self.gate.held(self.work.priority, self.check) if self.gate is not None else nullcontext(),
            self.slots.held(self.sleep) if self.slots is not None else nullcontext(),
        ):
            yield

    def request(self, texts: list[str], idx: int) -> ChunkRequest:
        spoken = self.lexicon.apply
        return ChunkRequest(
            text=spoken(texts[idx]),
            model=self.model.id,
            voice=self.voice,
            previous_text=spoken(texts[idx - 1])[-CONTEXT_CHARS:] if idx > 0 else None,
            next_text=spoken(texts[idx + 1])[:CONTEXT_CHARS] if idx + 1 < len(texts) else None,
            instructions=self.work.instructions if self.model.takes_instructions else None,
            speed=self.work.speed,
            dictionary=self.dictionary,
        )

    def synthesize(self, chunk: chunks.PlannedChunk, texts: list[str]) -> tuple[chunks.PlannedChunk, bytes]:
        """Request one chunk (retrying), store it, and return it as done, with its PCM (mastering
        takes it from here rather than reading back the file just written)."""
        audio, calls = self.fetch(chunk.id, chunk.idx, texts)
        relative = f"tts/chunks/{self.work.kind}-{self.work.row_id}/{chunk.idx:04d}-{chunk.id}.pcm"
        self.store.write(relative, audio.pcm, "chunk", durable=False)
        chunks.mark_done(
            chunk.id,
            audio_path=relative,
            sample_rate=audio.sample_rate,
            seconds=audio.seconds,
            request_id=audio.request_id,
            characters_billed=audio.characters_billed,
        )
        done = replace(
            chunk,
            done=True,
            audio_path=relative,
            sample_rate=audio.sample_rate,
            seconds=audio.seconds,
            characters_billed=audio.characters_billed,
            provider_calls=chunk.provider_calls + calls,
        )
        return done, audio.pcm

    def fetch(self, chunk_id: int, idx: int, texts: list[str]) -> tuple[ChunkAudio, int]:
        """Request chunk `idx` of `texts` (retrying, each request counted on the chunk row first):
        its audio and how many requests it took."""
        failures = 0
        calls = 0

        def give_up(state: RetryCallState) -> bool:
            nonlocal failures
            outcome = state.outcome
            if outcome is not None and not isinstance(outcome.exception(), Busy):
                failures += 1
            return failures >= self.tries

        pause = wait_honouring_retry_after(
            get_settings().chunk_retry_seconds,
            MAX_CHUNK_WAIT_SECONDS,
            lambda error: error.retry_after if isinstance(error, Transient) else None,
        )

        def noted(state: RetryCallState) -> None:
            """A passage's failed request that will be retried is part of the narration's history (a
            wait for one of the account's slots is not a failure, so it is not)."""
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, Transient) and not isinstance(error, Busy):
                events.record_now(
                    self.work.kind, self.work.row_id, events.What.PASSAGE_RETRIED,
                    passage=idx, worker=self.work.worker, message=f"{error.reason}: {error}",
                )  # fmt: skip

        audio: ChunkAudio | None = None
        for attempt in Retrying(
            retry=retry_if_exception_type(Transient),
            stop=give_up,
            wait=pause,
            sleep=self.sleep,
            before_sleep=noted,
            reraise=True,
        ):
            with attempt, self.slot():
                self.check()
                chunks.count_call(chunk_id)
                calls += 1
                with metrics.request_timed(self.work.provider):
                    audio = self.provider.synthesize(self.request(texts, idx))
                metrics.billed(self.work.provider, audio.characters_billed)
        assert audio is not None
        return audio, calls


def stored_pcm(store: MediaStore, stored: str | None) -> bytes | None:
    """The chunk's PCM when its stored path is sound and the file is there."""
    try:
        return store.read(stored, "chunk")
    except RefusedPath:
        return None


def stored_pcms(store: MediaStore, stored: list[str | None]) -> list[bytes | None]:
    """`stored_pcm` of each path, READERS at a time (in order)."""
    if len(stored) < 2:
        return [stored_pcm(store, path) for path in stored]
    with ThreadPoolExecutor(max_workers=min(READERS, len(stored)), thread_name_prefix="reader") as pool:
        return list(pool.map(lambda path: stored_pcm(store, path), stored))


@dataclass(frozen=True)
class Plan:
    """A claimed row's passages: their texts, their chunk rows, dropped chunks' files to delete, and
    the pronunciation lexicon of its project, applied to each passage as it is sent."""

    texts: list[str]
    chunks: list[chunks.PlannedChunk]
    stale: list[str]
    lexicon: Lexicon = EMPTY


def plan_chunks(session: Session, work: ClaimedWork, model: Model) -> Plan:
    """Split the row's text for `model` (keeping an earlier attempt's split while it still fits, so
    its done chunks are reused) and record the chunks, in the claim's transaction. Passages are cut
    short of the model's limit by what the lexicon adds to the text, so a respelled passage still fits."""
    lexicon = Lexicon(lexicon_rows.entries_of_narration(session, work.kind, work.row_id))
    limit = max(model.max_chars // 2, model.max_chars - lexicon.growth(work.prompt))

    def texts_for(earlier: list[str]) -> list[str]:
        return earlier if still_fits(earlier, work.prompt, limit) else split(work.prompt, limit)

    texts, planned, stale = chunks.plan(session, work.kind, work.row_id, texts_for, none_yet=not work.has_passages)
    if not texts:
        raise Permanent("The text is empty. Write the text to narrate, then retry.", reason="invalid")
    return Plan(texts, planned, stale, lexicon)


def narrate(
    work: ClaimedWork,
    plan: Plan,
    *,
    provider: Provider,
    checked: Checked,
    store: MediaStore,
    concurrency: int,
    tries: int,
    interruption: Callable[[], str | None],
    gate: ProviderGate | None = None,
    slots: AccountSlots | None = None,
) -> Narration:
    """Synthesize every chunk of `plan` not yet done (up to `concurrency` at once, and no more than
    `gate` lets this worker send), then master all of them."""
    model = checked.model
    texts, planned, stale = plan.texts, plan.chunks, plan.stale
    for refusal in storage.remove(store, [("chunk", p) for p in stale]).refused:
        log.warning("%s #%s: a dropped chunk's file was left in place: %s", work.kind, work.row_id, refusal)

    respelled, dictionary = phonemes.spoken(work, plan.lexicon, work.prompt)
    job = ChunkJob(
        work, provider, model, checked.voice, store, tries, interruption, gate, slots, respelled, dictionary=dictionary
    )
    # The PCM of every passage: an earlier attempt's read back from the store now (it may have run on
    # another host), the rest as it is synthesized. A chunk whose file did not survive (a machine
    # crash before the disk caught up), or whose stored path is refused (written by someone else),
    # is redone into a file of our own.
    earlier = [c for c in planned if c.done]
    found = zip(earlier, stored_pcms(store, [c.audio_path for c in earlier]), strict=True)
    heard = {c.idx: pcm for c, pcm in found if pcm is not None}
    todo = [c for c in planned if c.idx not in heard]
    finished = {c.idx: c for c in planned if c.idx in heard}
    if len(todo) == 1:  # the common short narration: no thread hand-off
        chunk, heard[todo[0].idx] = job.synthesize(todo[0], texts)
        finished[chunk.idx] = chunk
    elif todo:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(todo)), thread_name_prefix="chunk") as pool:
            futures = [pool.submit(job.synthesize, chunk, texts) for chunk in todo]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in done if f.exception() is not None), None)
            if failed is not None:
                job.abort.set()  # the others stop before their next request
                for future in futures:
                    future.cancel()
                raise failed.exception()  # type: ignore[misc]
            for chunk, pcm in (f.result() for f in futures):
                finished[chunk.idx], heard[chunk.idx] = chunk, pcm
    ordered = [finished[idx] for idx in sorted(finished)]

    if any(c.sample_rate is None for c in ordered):
        raise Permanent("A passage's sample rate was not recorded, so it cannot be joined. Re-narrate it.")
    return Narration.mastered(
        work,
        checked.profile,
        [(heard[c.idx], int(c.sample_rate or 0)) for c in ordered],
        [texts[c.idx] for c in ordered],
        chunk_seconds=[float(c.seconds or 0.0) for c in ordered],
        characters_billed=sum(c.characters_billed or 0 for c in ordered),
        provider_calls=sum(c.provider_calls for c in ordered),
    )
