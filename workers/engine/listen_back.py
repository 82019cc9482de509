"""The listen-back check: hear each finished passage with OpenAI's transcription and compare it with its text.

TTS models skip words, repeat phrases and run on past the text; a level meter cannot tell, a
listener can. So each passage of the mastered narration (what the listener will hear, not the
provider's raw chunk) is sent to `client.audio.transcriptions.create` through the official SDK,
and the transcript is compared with the passage's text as a word error rate (`workers.engine.word_errors`).
A passage over LISTEN_BACK_MAX_WER is flagged with the words that differ.

The check is optional (the row's `listen_back`), costs money (`catalogue.listen_back_cost_usd`) and
is advisory: a failure of it never fails the narration, which was paid for and is fine to play;
the passage records "not checked: <reason>" instead, and is not flagged, since "re-narrate flagged
passages" would then pay again for audio nothing is known to be wrong with.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import openai
import soxr
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from db.settings import Settings
from workers.engine import catalogue, qc
from workers.engine.encoding import encode
from workers.engine.providers.base import retry_after_seconds, wait_honouring_retry_after
from workers.engine.word_errors import MAX_DIFFERENCES, compare

log = logging.getLogger(__name__)

HEARING_RATE = 16_000
"""Speech recognition works at 16 kHz; sending no more keeps uploads small and fast."""
WINDOW_SECONDS = 600.0
"""Longest audio sent in one request: OpenAI takes at most 25 MB and (gpt-4o models) 25 minutes, and
an ElevenLabs passage can run 40 minutes; a longer passage is heard in windows, cut at a quiet moment."""
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
RETRIES = 2
"""Tries after the first for what the SDK would retry (a timeout, a lost connection, 408, 409, 429,
5xx). Retried here rather than by the SDK so the wait is CHUNK_RETRY_SECONDS', as a chunk's: doubled
each time, with jitter, a longer Retry-After waited out (the SDK's own back-off cannot be set)."""
MAX_RETRY_SECONDS = 30.0
"""The longest wait between two tries of one upload (a longer Retry-After is still waited out)."""
HEARD_CHARS = 1_000
"""How much of the transcript a passage keeps, for a person reading why it was flagged."""


def unavailable(settings: Settings) -> str | None:
    """Why the listen-back check cannot run on this desk, or None when it can."""
    openai_info = catalogue.provider("openai")
    if openai_info is not None and catalogue.missing_key(openai_info, settings):
        return "the listen-back check needs OpenAI, which is not set up on this desk (OPENAI_API_KEY)"
    return None


class NotChecked(Exception):
    """The passage could not be heard back; the message says why, without secrets."""


@dataclass(frozen=True)
class Heard:
    """One passage heard back: its word error rate and what differs, or why it was not checked."""

    wer: float | None = None
    expected_words: int = 0
    differences: tuple[tuple[str, str], ...] = ()
    """(expected, heard) for each differing stretch, the first MAX_DIFFERENCES."""
    said: tuple[str, ...] = ()
    """The same stretches as a person reads them: "'lantern' heard as 'lanterns'"."""
    heard: str = ""
    not_checked: str | None = None

    def as_json(self) -> dict[str, object]:
        if self.not_checked is not None:
            return {"not_checked": f"not checked: {self.not_checked}"}
        return {
            "wer": round(self.wer or 0.0, 3),
            "expected_words": self.expected_words,
            "differences": [{"expected": e, "heard": h} for e, h in self.differences],
            "heard": self.heard,
        }

    def flag(self, max_wer: float) -> str | None:
        """The sentence added to the passage's QC flags when too many words differ, else None."""
        if self.wer is None or self.wer <= max_wer:
            return None
        return f"listen-back: {round(self.wer * 100)} % of words differ: " + ", ".join(self.said)


def windows(samples: np.ndarray, rate: int) -> list[np.ndarray]:
    """The passage in pieces of at most WINDOW_SECONDS, each cut at the quietest 20 ms of its last 10 s."""
    size, frame = round(WINDOW_SECONDS * rate), max(1, rate // 50)
    pieces: list[np.ndarray] = []
    while samples.size > size:
        tail = np.abs(samples[size - 10 * rate : size].astype(np.float32))
        frames = tail[: tail.size // frame * frame].reshape(-1, frame).mean(axis=1)
        cut = size - 10 * rate + int(np.argmin(frames)) * frame + frame // 2
        pieces.append(samples[:cut])
        samples = samples[cut:]
    return [*pieces, samples]


def uploads(samples: np.ndarray, rate: int) -> list[bytes]:
    """A passage's int16 samples as the MP3 files sent to be heard (one per window)."""
    hearing: np.ndarray = soxr.resample(samples, rate, HEARING_RATE) if rate != HEARING_RATE else samples
    files = [encode(piece, HEARING_RATE, "mp3").data for piece in windows(hearing, HEARING_RATE)]
    if any(len(data) > MAX_UPLOAD_BYTES for data in files):
        raise NotChecked("its audio is larger than the 25 MB OpenAI takes in one request")
    return files


def _retryable(error: BaseException) -> bool:
    """What the SDK itself would try again, but for an exhausted quota, which no wait cures."""
    if isinstance(error, openai.RateLimitError):
        return "insufficient_quota" not in (error.code, error.type)
    if isinstance(error, openai.APIStatusError):
        return error.status_code in (408, 409) or error.status_code >= 500
    return isinstance(error, openai.APIConnectionError)  # timeouts included


def _retry_after(error: BaseException | None) -> float | None:
    response = error.response if isinstance(error, openai.APIStatusError) else None
    return retry_after_seconds(response.headers.get("retry-after")) if response is not None else None


def _transcribe(client: openai.OpenAI, settings: Settings, audio: bytes) -> str:
    """The transcript of one upload; NotChecked with a reason of our own words (OpenAI's messages can
    echo the request, so none is copied into the row)."""
    retrying = Retrying(
        retry=retry_if_exception(_retryable),
        stop=stop_after_attempt(1 + RETRIES),
        wait=wait_honouring_retry_after(settings.chunk_retry_seconds, MAX_RETRY_SECONDS, _retry_after),
        reraise=True,
    )
    file = ("passage.mp3", audio, "audio/mpeg")
    try:
        return retrying(lambda: client.audio.transcriptions.create(model=settings.listen_back_model, file=file).text)
    except openai.APITimeoutError:
        raise NotChecked("OpenAI did not answer in time") from None
    except openai.APIConnectionError:
        raise NotChecked("could not reach OpenAI") from None
    except openai.AuthenticationError:
        raise NotChecked("OpenAI rejected the API key (OPENAI_API_KEY)") from None
    except openai.RateLimitError as error:
        quota = "insufficient_quota" in (error.code, error.type)
        raise NotChecked("OpenAI's quota is exhausted" if quota else "OpenAI kept rate-limiting the check") from None
    except openai.APIStatusError as error:
        kind = "had a server error" if error.status_code >= 500 else "refused the transcription"
        raise NotChecked(f"OpenAI {kind} ({error.status_code})") from None


def hear_passage(client: openai.OpenAI, settings: Settings, samples: np.ndarray, rate: int, text: str) -> Heard:
    """Transcribe one passage's samples and compare the transcript with `text`."""
    try:
        if samples.size == 0:
            raise NotChecked("the passage has no audio")
        heard = " ".join(_transcribe(client, settings, f) for f in uploads(samples, rate))
    except NotChecked as reason:
        return Heard(not_checked=str(reason))
    except Exception as error:  # the check is advisory: whatever breaks, the narration is kept
        log.exception("the listen-back check crashed")
        return Heard(not_checked=f"the check crashed ({type(error).__name__})")
    comparison = compare(text, heard)
    shown = comparison.differences[:MAX_DIFFERENCES]
    return Heard(
        wer=comparison.wer,
        expected_words=comparison.expected_words,
        differences=tuple((d.expected, d.heard) for d in shown),
        said=tuple(d.said() for d in shown[:3]) + (("…",) if len(comparison.differences) > 3 else ()),
        heard=heard.strip()[:HEARD_CHARS],
    )


def hear(samples: np.ndarray, rate: int, passages: Sequence[qc.Passage], settings: Settings) -> list[Heard]:
    """Every passage heard back, in order; as many requests at once as OPENAI_CONCURRENCY allows."""
    if reason := unavailable(settings):
        return [Heard(not_checked=reason) for _ in passages]
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    client = openai.OpenAI(
        api_key=key,
        base_url=settings.openai_base_url,
        timeout=settings.provider_timeout_seconds,
        max_retries=0,  # retried in _transcribe
    )
    with client, ThreadPoolExecutor(max_workers=settings.openai_concurrency) as pool:
        return list(
            pool.map(lambda p: hear_passage(client, settings, samples[p.start : p.end], rate, p.text), passages)
        )


def annotate(
    quality: dict[str, object], samples: np.ndarray, rate: int, passages: Sequence[qc.Passage], settings: Settings
) -> None:
    """Hear the passages back and add the results to the QC figures (`qc.measure`'s JSON): each
    passage's `listen_back`, a flag for each passage over LISTEN_BACK_MAX_WER, and a summary."""
    results = hear(samples, rate, passages, settings)
    pieces = quality["passages"]
    assert isinstance(pieces, list) and len(pieces) == len(results)
    flagged = 0
    for piece, result in zip(pieces, results, strict=True):
        piece["listen_back"] = result.as_json()
        if flag := result.flag(settings.listen_back_max_wer):
            piece["flags"].append(flag)
            flagged += 1
    quality["listen_back"] = {
        "model": settings.listen_back_model,
        "max_wer": settings.listen_back_max_wer,
        "checked": sum(r.not_checked is None for r in results),
        "flagged": flagged,
        "not_checked": sum(r.not_checked is not None for r in results),
    }
