"""ElevenLabs text to speech (`POST /v1/text-to-speech/{voice_id}`) behind the Provider interface.

Asks for `pcm_24000` so chunks join losslessly, passes the continuity hints (surrounding text and
earlier request ids) that keep a voice steady across chunks, and sorts failures for the engine:
plan concurrency used up is `Busy` (wait for a slot, not a failed attempt), the rest Transient or
Permanent. The SDK's own retries are off: the engine retries.
"""

from __future__ import annotations

from typing import Any

import httpx
from elevenlabs import PronunciationDictionaryVersionLocator
from elevenlabs.client import ElevenLabs
from elevenlabs.core.api_error import ApiError
from elevenlabs.pronunciation_dictionaries.types import (
    BodyAddAPronunciationDictionaryV1PronunciationDictionariesAddFromRulesPostRulesItem_Phoneme as PhonemeRule,
)

from workers.engine.providers.base import (
    Busy,
    ChunkAudio,
    ChunkRequest,
    Permanent,
    ProviderError,
    Transient,
    checked_pcm,
    retry_after_seconds,
    scrub,
)

OUTPUT_FORMAT = "pcm_24000"
PCM_SAMPLE_RATE = 24_000
NO_REQUEST_STITCHING = ("eleven_v3",)
"""Models that refuse `previous_request_ids`."""


class ElevenLabsProvider:
    """One ElevenLabs client shared by every thread of a worker (it wraps one thread-safe httpx client)."""

    name = "elevenlabs"

    def __init__(self, *, api_key: str, base_url: str | None = None, timeout: float = 60.0) -> None:
        if not api_key:  # the SDK would fall back to the environment, or send an empty key
            raise Permanent("ElevenLabs voices need a key: set ELEVENLABS_API_KEY", reason="not_configured")
        self._api_key = api_key
        self._timeout = timeout
        self._client = ElevenLabs(api_key=api_key, base_url=base_url, timeout=timeout)

    def synthesize(self, request: ChunkRequest) -> ChunkAudio:
        stitch = request.previous_request_ids and request.model not in NO_REQUEST_STITCHING
        try:
            with self._client.text_to_speech.with_raw_response.convert(
                request.voice,
                text=request.text,
                model_id=request.model,
                output_format=OUTPUT_FORMAT,
                previous_text=request.previous_text,
                next_text=request.next_text,
                previous_request_ids=list(request.previous_request_ids) if stitch else None,
                pronunciation_dictionary_locators=[
                    PronunciationDictionaryVersionLocator(
                        pronunciation_dictionary_id=request.dictionary[0], version_id=request.dictionary[1]
                    )
                ]
                if request.dictionary
                else None,
                request_options={"max_retries": 0},
            ) as response:
                headers = response.headers
                pcm = b"".join(response.data)
        except ApiError as error:
            raise self._api_error(error, request) from None
        except httpx.TimeoutException:
            raise Transient(f"ElevenLabs did not answer within {self._timeout:g} s", reason="timeout") from None
        except httpx.RequestError as error:
            detail = f"{type(error).__name__}: {error}"
            said = scrub(f"Could not reach ElevenLabs or read its answer ({detail})", self._api_key)
            raise Transient(said, reason="unreachable") from None
        return ChunkAudio(
            pcm=checked_pcm("ElevenLabs", headers.get("content-type", ""), pcm),
            sample_rate=PCM_SAMPLE_RATE,
            request_id=headers.get("request-id"),
            characters_billed=_int_or_none(headers.get("character-cost")),
        )

    def make_dictionary(self, name: str, phonemes: list[tuple[str, str]]) -> tuple[str, str]:
        """Make a pronunciation dictionary of IPA phoneme rules (term, ipa) in the account; its (id,
        version). Raises ProviderError as a request would."""
        rules: list[PhonemeRule] = [
            PhonemeRule(string_to_replace=term, phoneme=ipa, alphabet="ipa") for term, ipa in phonemes
        ]
        try:
            made = self._client.pronunciation_dictionaries.create_from_rules(
                rules=rules, name=name, request_options={"max_retries": 0}
            )
        except ApiError as error:
            status_code = error.status_code or 0
            said = scrub(_detail(error.body)[1], self._api_key)
            if status_code == 401:
                raise Permanent("ElevenLabs rejected the API key: check ELEVENLABS_API_KEY", reason="auth") from None
            if status_code >= 500 or status_code in (0, 408, 409, 429):
                raise Transient(f"ElevenLabs could not make the dictionary ({status_code}): {said}") from None
            raise Permanent(f"ElevenLabs refused the pronunciation dictionary ({status_code}): {said}") from None
        except httpx.HTTPError as error:
            raise Transient(
                scrub(f"Could not reach ElevenLabs ({error})", self._api_key), reason="unreachable"
            ) from None
        return made.id, made.version_id

    def _api_error(self, error: ApiError, request: ChunkRequest) -> ProviderError:
        status_code = error.status_code or 0
        status, said = _detail(error.body)
        said = scrub(said, self._api_key)
        if status_code == 429:
            retry_after = retry_after_seconds((error.headers or {}).get("retry-after"))
            if status == "too_many_concurrent_requests":
                return Busy("ElevenLabs plan concurrency in use: waiting for a free slot", retry_after=retry_after)
            return Transient(
                f"ElevenLabs is busy (429 {status or 'rate limited'}): {said}",
                retry_after=retry_after,
                reason="rate_limited",
            )
        if status_code >= 500 or status_code in (0, 408, 409):
            return Transient(f"ElevenLabs had a server error ({status_code}): {said}")
        if status == "quota_exceeded":
            return Permanent(
                f"ElevenLabs quota exhausted: wait for it to reset or raise the plan's limit ({said})", reason="quota"
            )
        if status_code == 401:
            return Permanent("ElevenLabs rejected the API key: check ELEVENLABS_API_KEY", reason="auth")
        if status == "voice_not_found":
            return Permanent(f"ElevenLabs has no voice {request.voice!r}: pick another voice")
        if status == "max_character_limit_exceeded":
            return Permanent(
                f"ElevenLabs refused a chunk of {len(request.text)} characters as too long for {request.model}: {said}"
            )
        return Permanent(f"ElevenLabs refused the request ({status_code} {status or 'error'}): {said}")


def _detail(body: Any) -> tuple[str | None, str]:
    """ElevenLabs' `{"detail": {"status", "message"}}` as (status, message); other bodies as text."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        status = detail.get("status")
        return (str(status) if status else None), str(detail.get("message") or "no details")
    return None, str(detail or body or "no details")[:300]


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
