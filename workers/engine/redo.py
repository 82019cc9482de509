"""Narrating passages of a completed narration again, beside the audio it has.

Only the redone passages are requested, each into a NEW chunk file (the old one keeps playing on
the Passages tab and stays the narration's until the swap); every other passage is read from its
file as it is. The caller (workers/engine/jobs.py) encodes the joined audio to a new file and swaps it in
with `db.redo.swap`; the files it replaced are deleted only after that commit.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from db.engine import new_session
from db.lifecycle import ClaimedWork
from db.redo import Passage, store_passage
from workers.engine import storage
from workers.engine.gates import ProviderGate
from workers.engine.narrate import ChunkJob, Interrupted, Narration, stored_pcm, stored_pcms
from workers.engine.pronounce import EMPTY, Lexicon
from workers.engine.providers.base import Permanent, Provider
from workers.engine.slots import AccountSlots
from workers.engine.store import MediaStore
from workers.engine.validation import Checked


@dataclass(frozen=True)
class _Ready:
    pcm: bytes
    sample_rate: int
    seconds: float
    characters_billed: int
    provider_calls: int


def new_chunk_path(work: ClaimedWork, passage: Passage) -> str:
    """A fresh file name for a redone passage, apart from the one it replaces."""
    return f"tts/chunks/{work.kind}-{work.row_id}/{passage.idx:04d}-{passage.id}-{secrets.token_hex(4)}.pcm"


def _kept(pcm: bytes | None, passage: Passage) -> _Ready:
    if pcm is None or passage.sample_rate is None:
        raise Permanent(
            f"Passage {passage.idx + 1}'s audio is no longer stored (storage was freed), so the narration "
            "cannot be re-joined. Narrate the whole text again with “Duplicate with changes”."
        )
    return _Ready(
        pcm,
        passage.sample_rate,
        passage.seconds or 0.0,
        passage.characters_billed or 0,
        passage.provider_calls,
    )


def renarrate(
    work: ClaimedWork,
    passages: list[Passage],
    *,
    provider: Provider,
    checked: Checked,
    store: MediaStore,
    tries: int,
    interruption: Callable[[], str | None],
    gate: ProviderGate | None,
    slots: AccountSlots | None,
    written: list[str],
    lexicon: Lexicon = EMPTY,
) -> Narration:
    """Synthesize the redone passages (one after another: a redo is one or a few) and master all of
    them again, so the new passage matches its neighbours. Each new file's path is appended to
    `written` as soon as it exists, so the caller can delete it if the redo does not complete."""
    job = ChunkJob(
        work,
        provider,
        checked.model,
        checked.voice,
        store,
        tries,
        interruption,
        gate=gate,
        slots=slots,
        lexicon=lexicon,
    )
    texts = [p.text for p in passages]
    unchanged = [p for p in passages if not p.redone]
    kept_pcm = dict(zip([p.id for p in unchanged], stored_pcms(store, [p.audio_path for p in unchanged]), strict=True))
    ready: list[_Ready] = []
    for passage in passages:
        if not passage.redone:
            ready.append(_kept(kept_pcm[passage.id], passage))
            continue
        earlier = stored_pcm(store, passage.redo_audio_path)
        if earlier is not None and passage.redo_sample_rate is not None:  # a predecessor's, before it died
            ready.append(
                _Ready(
                    earlier,
                    passage.redo_sample_rate,
                    passage.redo_seconds or 0.0,
                    passage.redo_characters_billed or 0,
                    passage.provider_calls,
                )
            )
            continue
        audio, calls = job.fetch(passage.id, passage.idx, texts)
        relative = new_chunk_path(work, passage)
        written.append(relative)
        store.write(relative, audio.pcm, "chunk", durable=False)
        with new_session() as session:
            kept = store_passage(
                session,
                work,
                passage.id,
                audio_path=relative,
                sample_rate=audio.sample_rate,
                seconds=audio.seconds,
                characters_billed=audio.characters_billed,
            )
        if not kept:  # cancelled or taken over meanwhile: this file is nobody's
            storage.remove(store, [("chunk", relative)])
            raise Interrupted(interruption() or "the redo was taken away")
        ready.append(
            _Ready(
                audio.pcm,
                audio.sample_rate,
                audio.seconds,
                audio.characters_billed or 0,
                passage.provider_calls + calls,
            )
        )
    return Narration.mastered(
        work,
        checked.profile,
        [(r.pcm, r.sample_rate) for r in ready],
        texts,
        chunk_seconds=[r.seconds for r in ready],
        characters_billed=sum(r.characters_billed for r in ready),
        provider_calls=sum(r.provider_calls for r in ready),
    )
