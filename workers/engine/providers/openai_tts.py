"""OpenAI speech (`POST /v1/audio/speech`) behind the Provider interface.

Always asks for `pcm` (24 kHz signed 16-bit little-endian mono) so chunks join losslessly, and
sorts every failure into Transient / Permanent so the engine knows whether to retry or to tell a
person. The SDK's own retries are off: the engine retries, with backoff across the whole job.
"""

from __future__ import annotations

import openai

from workers.engine.providers.base import (
    ChunkAudio,
    ChunkRequest,
    Permanent,
    ProviderError,
    Transient,
    checked_pcm,
    retry_after_seconds,
    scrub,
)

PCM_SAMPLE_RATE = 24_000
INSTRUCTION_MODELS = ("gpt-4o-mini-tts",)
"""Models that take `instructions` (tone of voice); the `tts-1` models do not."""


class OpenAIProvider:
    """One OpenAI client shared by every thread of a worker (the SDK client is thread-safe)."""

    name = "openai"

    def __init__(self, *, api_key: str, base_url: str | None = None, timeout: float = 60.0) -> None:
        if not api_key:  # the SDK would fall back to the environment, or fail with its own wording
            raise Permanent("OpenAI voices need a key: set OPENAI_API_KEY", reason="not_configured")
        self._api_key = api_key
        self._timeout = timeout
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)

    def synthesize(self, request: ChunkRequest) -> ChunkAudio:
        instructions = request.instructions if request.model.startswith(INSTRUCTION_MODELS) else None
        try:
            response = self._client.audio.speech.with_raw_response.create(
                model=request.model,
                voice=request.voice,
                input=request.text,
                response_format="pcm",
                speed=request.speed if request.speed is not None else openai.omit,
                instructions=instructions or openai.omit,
            )
        except openai.APITimeoutError:
            raise Transient(f"OpenAI did not answer within {self._timeout:g} s", reason="timeout") from None
        except openai.APIConnectionError as error:
            cause = error.__cause__
            detail = f"{type(cause).__name__}: {cause}" if cause else "no detail"
            said = scrub(f"Could not reach OpenAI or read its answer ({detail})", self._api_key)
            raise Transient(said, reason="unreachable") from None
        except openai.APIStatusError as error:
            raise self._status_error(error) from None
        return ChunkAudio(
            pcm=checked_pcm("OpenAI", response.headers.get("content-type", ""), response.content),
            sample_rate=PCM_SAMPLE_RATE,
            request_id=response.headers.get("x-request-id"),
            characters_billed=len(request.text),
        )

    def _status_error(self, error: openai.APIStatusError) -> ProviderError:
        status = error.status_code
        said = scrub(self._message(error.body), self._api_key)
        if status == 429 and "insufficient_quota" in (error.code, error.type):
            return Permanent(
                "OpenAI quota exhausted: check the plan and billing of the account behind OPENAI_API_KEY",
                reason="quota",
            )
        if status == 429:
            retry_after = retry_after_seconds(error.response.headers.get("retry-after"))
            return Transient(f"OpenAI rate limit (429): {said}", retry_after=retry_after, reason="rate_limited")
        if status == 401:
            return Permanent("OpenAI rejected the API key: check OPENAI_API_KEY", reason="auth")
        if status >= 500 or status in (408, 409):
            return Transient(f"OpenAI had a server error ({status}): {said}")
        return Permanent(f"OpenAI refused the request ({status}): {said}")

    @staticmethod
    def _message(body: object) -> str:
        """OpenAI's own words: the `message` of its JSON error, or the start of whatever came back."""
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return str(body["message"])
        return str(body or "no details")[:300]
