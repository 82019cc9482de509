"""The provider interface and the errors that tell the engine what to do next.

An engine only needs three answers from a failed request: try again later (`Transient`, maybe
with the server's own Retry-After), wait for a free concurrency slot (`Busy`), or stop and tell a
person (`Permanent`, whose message goes into `error_message` as is).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, get_args

from tenacity import RetryCallState, wait_exponential_jitter


@dataclass(frozen=True)
class ChunkRequest:
    """One request to a provider: a chunk of the narration and what surrounds it."""

    text: str
    model: str
    voice: str
    previous_text: str | None = None
    next_text: str | None = None
    previous_request_ids: tuple[str, ...] = ()
    instructions: str | None = None
    speed: float | None = None
    dictionary: tuple[str, str] | None = None
    """An ElevenLabs pronunciation dictionary (id, version) that says some of the text's terms."""


@dataclass(frozen=True)
class ChunkAudio:
    """What came back: mono signed 16-bit little-endian PCM and the provider's own facts."""

    pcm: bytes
    sample_rate: int
    request_id: str | None = None
    characters_billed: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


Reason = Literal[
    "rate_limited",
    "busy",
    "timeout",
    "unreachable",
    "server_error",
    "bad_answer",
    "quota",
    "auth",
    "not_configured",
    "refused",
    "invalid",
]
"""Why a request or a job failed, as a category from this fixed set: what the metrics count failures
by (workers/engine/metrics.py), since the sentence itself may quote the text or the provider."""
REASONS: tuple[Reason, ...] = get_args(Reason)


class ProviderError(Exception):
    """Base of the errors below; `str()` is a sentence fit for a person, `reason` its category."""

    reason: Reason = "refused"

    def __init__(self, message: str, *, reason: Reason | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class Transient(ProviderError):
    """Worth retrying: timeouts, 5xx, 429 rate limits, truncated or garbled answers."""

    reason: Reason = "server_error"

    def __init__(self, message: str, *, retry_after: float | None = None, reason: Reason | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class Busy(Transient):
    """The account's concurrency is used up (ElevenLabs `too_many_concurrent_requests`): wait for a slot.

    Not a failure of this request, so waiting for it does not use up a retry.
    """

    reason: Reason = "busy"


class Permanent(ProviderError):
    """Retrying cannot help (bad key, unknown voice, quota exhausted, text refused)."""


class Provider(Protocol):
    """Turns one chunk of text into PCM. Implementations must be safe to call from several threads."""

    name: str

    def synthesize(self, request: ChunkRequest) -> ChunkAudio: ...


def checked_pcm(provider: str, content_type: str, pcm: bytes) -> bytes:
    """A 200 is not proof of audio: proxies and portals answer HTML, cut connections leave halves."""
    kind = content_type.split(";")[0].strip().lower()
    if kind and not (kind.startswith("audio/") or kind == "application/octet-stream"):
        raise Transient(f"{provider} answered with {kind} instead of audio", reason="bad_answer")
    if not pcm:
        raise Transient(f"{provider} answered with no audio", reason="bad_answer")
    if len(pcm) % 2:
        raise Transient(f"{provider}'s audio was cut off (odd number of bytes for 16-bit samples)", reason="bad_answer")
    return pcm


def retry_after_seconds(value: str | None) -> float | None:
    """The server's Retry-After in seconds (whole or fractional), if it sent a usable one."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def scrub(text: str, secret: str) -> str:
    """Error text can echo the request; the key must never reach a row, a log or a page."""
    return text.replace(secret, "***") if secret else text


def wait_honouring_retry_after(
    first: float, ceiling: float, retry_after: Callable[[BaseException | None], float | None]
) -> Callable[[RetryCallState], float]:
    """Tenacity's wait for a provider request: exponential from `first` with jitter, capped at
    `ceiling`, or the provider's Retry-After (read from the error by `retry_after`) when that is
    longer. One definition for the chunk's retries and listen-back's."""
    backoff = wait_exponential_jitter(multiplier=first, max=ceiling, jitter=first)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return max(backoff(state), retry_after(error) or 0.0)

    return wait
