"""A fake OpenAI and ElevenLabs that speak real HTTP, so tests drive the official SDKs end to end.

Mocking the SDKs would only test our guesses about them; a local server tests what they really
send and how they really fail: status codes, error bodies, headers, cut connections, timeouts.
Requests are validated like the real APIs (limits from /work/shared/providers.md), answers are
deterministic PCM whose length follows the text, and faults can be scripted per request.

OpenAI's transcription endpoint is faked too, for the listen-back check: each text the fake speaks
gets its own tone frequency (the first text 220 Hz, as before), a frequency survives everything
mastering does (gain, trimming, fades, resampling, MP3), so the transcription endpoint finds the
dominant frequency with an FFT and answers with the text spoken at it, or with what
`mistranscribe` says it is heard as.

    with FakeProviders() as fake:
        provider = OpenAIProvider(api_key="test-key", base_url=fake.openai_base_url)
        fake.fail_next("429")
        ...
        assert fake.calls_for("Once upon")[0].status == 429
"""

from __future__ import annotations

import contextlib
import email.policy
import functools
import io
import json
import random
import re
import socket
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, cast, get_args
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import soundfile
from httpx._transports import default as httpx_transport
from httpx2._transports import default as httpx2_transport

# Every SDK client a test builds (one per provider a test points at the fakes, one per listen-back)
# made its own SSL context and read the whole CA bundle into it: 50-70 ms of CPU each, about a
# hundred a run, for fakes that speak plain HTTP. The bundle cannot change during a run, so a test
# process makes one context per set of arguments and every later client shares it, as all the
# connections of one client already do (httpx: elevenlabs; httpx2: openai).
httpx_transport.create_ssl_context = functools.cache(httpx_transport.create_ssl_context)  # type: ignore[attr-defined]
httpx2_transport.create_ssl_context = functools.cache(httpx2_transport.create_ssl_context)  # type: ignore[attr-defined]

Fault = Literal["slow", "429", "500", "garbage", "truncated", "hang", "401", "busy", "quota", "refused"]
FAULTS: tuple[Fault, ...] = get_args(Fault)
ProviderName = Literal["openai", "elevenlabs"]
PROVIDERS: tuple[ProviderName, ...] = get_args(ProviderName)

OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
OPENAI_VOICES = (
    *("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse"),
    *("marin", "cedar"),
)
OPENAI_MAX_INPUT = 4_096
OPENAI_TRANSCRIPTION_MODELS = ("gpt-4o-mini-transcribe", "gpt-4o-transcribe", "whisper-1")
OPENAI_MAX_UPLOAD = 25 * 1024 * 1024
OPENAI_PCM_RATE = 24_000

ELEVENLABS_LIMITS = {
    "eleven_multilingual_v2": 10_000,
    "eleven_flash_v2_5": 40_000,
    "eleven_turbo_v2_5": 40_000,
    "eleven_flash_v2": 30_000,
    "eleven_turbo_v2": 30_000,
    "eleven_v3": 5_000,
}
ELEVENLABS_DEFAULT_MODEL = "eleven_multilingual_v2"
PREMADE_NAMES = {"21m00Tcm4TlvDq8ikWAM": "Rachel", "EXAVITQu4vr4xnSDxMaL": "Sarah", "pNInz6obpgDQGcFmaJgB": "Adam"}
"""Premade voices every ElevenLabs account has (the ones the catalogue offers)."""


def account_voice(voice_id: str, name: str, category: str, **labels: str) -> dict[str, Any]:
    """One voice as ElevenLabs' voices API lists it (the fields the SDK's `Voice` reads)."""
    return {
        "voice_id": voice_id, "name": name, "category": category, "labels": labels,
        "description": f"{name}, a {category} voice", "preview_url": f"https://storage.example/{voice_id}.mp3",
    }  # fmt: skip


CLONED = account_voice("cl0nedAoifeVoice0001", "Aoife (cloned)", "cloned", accent="irish", gender="female")
"""A voice only this account has: what a studio clones for its own narrator."""
ELEVENLABS_MAX_REQUEST_IDS = 3
_ELEVENLABS_FORMAT = re.compile(r"(?P<codec>pcm|mp3)_(?P<rate>\d+)(?:_\d+)?")
_ELEVENLABS_RATES = {"pcm": {8_000, 16_000, 22_050, 24_000, 44_100, 48_000}, "mp3": {22_050, 44_100}}

TONE_HZ = 220.0
TONE_LEVEL = 0.1
"""A quiet (-20 dBFS) but clearly non-silent tone: a 'did it speak?' check passes, ears survive."""
TONE_STEP_HZ = 4.0
TONE_SLOTS = 55
"""Texts are told apart by TONE_HZ + k × TONE_STEP_HZ, k = 0..54 in the order first spoken (then
round again): all under 440 Hz, where K-weighting is flat within 0.1 dB, so loudness stays as it was."""
TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"


@dataclass(frozen=True)
class Call:
    """One request the fake received, and what it answered."""

    provider: ProviderName
    path: str
    text: str
    model: str
    voice: str
    status: int | None
    """The status sent back; None when no answer was sent (a `hang`)."""
    params: dict[str, Any]
    """The JSON body and the query parameters, as received."""
    fault: Fault | None
    request_id: str | None


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Script:
    kind: Fault
    times: int
    provider: ProviderName | None


@dataclass
class _Request:
    """A parsed request, before the fake decides how to answer it."""

    provider: ProviderName
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    query: dict[str, str]
    upload: bytes = b""
    """The audio file of a transcription request (multipart `file`)."""

    @property
    def text(self) -> str:
        return str(self.body.get("input" if self.provider == "openai" else "text") or "")

    @property
    def model(self) -> str:
        if self.provider == "openai":
            return str(self.body.get("model") or "")
        return str(self.body.get("model_id") or ELEVENLABS_DEFAULT_MODEL)

    @property
    def voice(self) -> str:
        if self.provider == "openai":
            return str(self.body.get("voice") or "")
        return self.path.rsplit("/", 1)[-1]


def tone(seconds: float, sample_rate: int, hz: float = TONE_HZ) -> np.ndarray[Any, np.dtype[np.int16]]:
    """The fake's speech: `seconds` of a quiet tone, rounded to whole samples."""
    count = round(seconds * sample_rate)
    phase = 2 * np.pi * hz * np.arange(count) / sample_rate
    return (np.sin(phase) * TONE_LEVEL * 32767).astype("<i2")


def dominant_hz(samples: np.ndarray[Any, Any], sample_rate: int) -> float | None:
    """The strongest frequency in `samples` (Hann window, FFT, parabolic peak), None for silence."""
    signal = np.asarray(samples, dtype=np.float64)
    if signal.ndim > 1:
        signal = signal.mean(axis=1)
    if signal.size < 64 or not np.any(signal):
        return None
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(signal.size)))
    peak = int(np.argmax(spectrum[1:-1])) + 1
    left, middle, right = np.log(spectrum[peak - 1 : peak + 2] + 1e-12)
    shift = 0.5 * (left - right) / (left - 2 * middle + right) if left - 2 * middle + right else 0.0
    return float((peak + shift) * sample_rate / signal.size)


def _encode(samples: np.ndarray[Any, np.dtype[np.int16]], sample_rate: int, codec: str) -> bytes:
    if codec == "pcm":
        return samples.tobytes()
    out = io.BytesIO()
    container, subtype = {"mp3": ("MP3", "MPEG_LAYER_III"), "wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16")}[codec]
    soundfile.write(out, samples, sample_rate, format=container, subtype=subtype)
    return out.getvalue()


_CONTENT_TYPES = {"pcm": "audio/pcm", "mp3": "audio/mpeg", "wav": "audio/wav", "flac": "audio/flac"}


def _json(status: int, payload: object, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, json.dumps(payload).encode(), "application/json", headers or {})


def _openai_error(status: int, message: str, code: str | None, kind: str = "invalid_request_error") -> _Reply:
    return _json(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})


def _eleven_error(status: int, detail_status: str, message: str, headers: dict[str, str] | None = None) -> _Reply:
    return _json(status, {"detail": {"status": detail_status, "message": message}}, headers)


def _masked(key: str) -> str:
    """How OpenAI echoes a wrong key: only its first three and last four characters."""
    return f"{key[:3]}{'*' * max(0, len(key) - 7)}{key[-4:]}" if len(key) > 8 else "*" * len(key)


class FakeProviders:
    """Both fake APIs on one local port, in a background thread; use it as a context manager.

    Tuning attributes (read on every request, set them any time): `latency` (seconds added to
    every request, for benchmarks), `slow_seconds` (delay of a `slow` fault), `hang_seconds` (how
    long a `hang` holds the request before closing it unanswered; make it longer than the client
    timeout), `seconds_per_char` (audio length per character of text) and
    `concurrency_limits` (provider → most requests in flight: one arriving above it is answered 429
    at once, ElevenLabs' `too_many_concurrent_requests` as a plan's concurrency limit, OpenAI's
    `rate_limit_exceeded`) and
    `quieter` (text → dB: a request for exactly that text comes back that much quieter, as providers
    return passages at uneven levels) and `edge_silence` (seconds of silence before and after the
    speech in every answer, as providers leave) and `mistranscribe` (text → what the transcription
    endpoint hears in the audio of exactly that text; other audio is heard as its text).
    It listens on `address`: 127.0.0.1 on a free port, unless it stands in for a provider's own
    host on a simulated network (tests/provider_host.py).
    """

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        seconds_per_char: float = 0.06,
        latency: float = 0.0,
        slow_seconds: float = 0.5,
        hang_seconds: float = 60.0,
        concurrency_limits: dict[ProviderName, int] | None = None,
        address: tuple[str, int] = ("127.0.0.1", 0),
    ) -> None:
        self.api_key = api_key
        self.seconds_per_char = seconds_per_char
        self.latency = latency
        self.slow_seconds = slow_seconds
        self.hang_seconds = hang_seconds
        self.concurrency_limits: dict[ProviderName, int] = dict(concurrency_limits or {})
        self.quieter: dict[str, float] = {}
        self.edge_silence = 0.0
        self.mistranscribe: dict[str, str] = {}
        self.account_voices: list[dict[str, Any]] = [
            *(account_voice(i, n, "premade", accent="american") for i, n in PREMADE_NAMES.items()),
            CLONED,
        ]
        """The ElevenLabs account's voices (GET /v1/voices); a test adds or removes some."""
        self.voice_listings = 0
        """How many times the voices were listed (free: not among the paid `calls`)."""
        self.dictionaries: dict[str, list[dict[str, Any]]] = {}
        """Pronunciation dictionaries made in the ElevenLabs account: id → its rules, as sent."""
        self._tone_slots: dict[str, int] = {}
        self._spoken_at: dict[int, str] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._calls: list[Call] = []
        self._scripts: list[_Script] = []
        self._random: tuple[float, tuple[Fault, ...], random.Random, ProviderName | None] | None = None
        self._in_flight = dict.fromkeys(PROVIDERS, 0)
        self._max_in_flight = dict.fromkeys(PROVIDERS, 0)
        self._connections: set[socket.socket] = set()
        self._server = _Server(self, address)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-providers", daemon=True
        )

    # --- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> FakeProviders:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving; requests still held (`hang`, `slow`, `latency`) end at once."""
        self._closing.set()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_base_url(self) -> str:
        """Pass as `base_url` to OpenAI clients (the SDK appends `/audio/speech`)."""
        return f"{self.base_url}/v1"

    @property
    def elevenlabs_base_url(self) -> str:
        """Pass as `base_url` to ElevenLabs clients (the SDK appends `/v1/text-to-speech/...`)."""
        return self.base_url

    # --- faults ----------------------------------------------------------------------------------

    def fail_next(self, kind: Fault, times: int = 1, provider: ProviderName | None = None) -> None:
        """The next `times` requests (to `provider`, or to either) get `kind`; scripts queue up in order."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULTS)}")
        if times < 1 or provider not in (None, *PROVIDERS):
            raise ValueError(f"bad fault script: times={times}, provider={provider!r}")
        with self._lock:
            self._scripts.append(_Script(kind, times, provider))

    def random_faults(
        self, rate: float, kinds: Sequence[Fault], seed: int, provider: ProviderName | None = None
    ) -> None:
        """From now on each request (not already scripted) fails with probability `rate`, with one
        of `kinds` picked at random; the same seed and request order give the same faults."""
        if not 0.0 <= rate <= 1.0 or not kinds or any(kind not in FAULTS for kind in kinds):
            raise ValueError(f"bad random faults: rate={rate}, kinds={kinds!r}")
        with self._lock:
            self._random = (rate, tuple(kinds), random.Random(seed), provider)

    def clear_faults(self) -> None:
        """Forget scripted and random faults: every later request is served normally."""
        with self._lock:
            self._scripts.clear()
            self._random = None

    def _take_fault(self, provider: ProviderName) -> Fault | None:
        with self._lock:
            for script in self._scripts:
                if script.provider in (None, provider):
                    script.times -= 1
                    if script.times == 0:
                        self._scripts.remove(script)
                    return script.kind
            if self._random is not None:
                rate, kinds, rng, only = self._random
                if only in (None, provider) and rng.random() < rate:
                    return rng.choice(kinds)
        return None

    # --- what was asked --------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every request so far, oldest first (a snapshot)."""
        with self._lock:
            return list(self._calls)

    def calls_for(self, text_substring: str, provider: ProviderName | None = None) -> list[Call]:
        """The requests whose text contains `text_substring` (optionally to one provider only)."""
        return [
            call
            for call in self.calls
            if text_substring in call.text and (provider is None or call.provider == provider)
        ]

    @property
    def max_concurrent_seen(self) -> dict[ProviderName, int]:
        """The most requests each provider had in flight at once (a request counts until answered)."""
        with self._lock:
            return dict(self._max_in_flight)

    # --- serving ---------------------------------------------------------------------------------

    def _track(self, connection: socket.socket, *, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _serve(self, handler: _Handler, request: _Request) -> None:
        with self._lock:
            self._in_flight[request.provider] += 1
            in_flight = self._in_flight[request.provider]
            self._max_in_flight[request.provider] = max(self._max_in_flight[request.provider], in_flight)
        try:
            limit = self.concurrency_limits.get(request.provider)
            over_limit = limit is not None and in_flight > limit
            fault: Fault | None = "busy" if over_limit else self._take_fault(request.provider)
            if not over_limit:  # a provider refuses a request over its limit at once
                self._closing.wait(self.latency)
            if fault == "hang":
                self._record(request, None, fault, None)
                self._closing.wait(self.hang_seconds)
                handler.close_connection = True
                return
            if fault == "slow":
                self._closing.wait(self.slow_seconds)
            reply = self._fault_reply(request, fault) or self._answer(request)
            request_id = reply.headers.get("x-request-id") or reply.headers.get("request-id")
            self._record(request, reply.status, fault, request_id)
        finally:
            # Done before the answer goes out, as a provider's count is: a client that sends its
            # next request the moment it has this answer is not counted twice.
            with self._lock:
                self._in_flight[request.provider] -= 1
        handler.send(reply, truncate=fault == "truncated")

    def _record(self, request: _Request, status: int | None, fault: Fault | None, request_id: str | None) -> None:
        call = Call(
            provider=request.provider,
            path=request.path,
            text=request.text,
            model=request.model,
            voice=request.voice,
            status=status,
            params={**request.query, **request.body},
            fault=fault,
            request_id=request_id,
        )
        with self._lock:
            self._calls.append(call)

    def _fault_reply(self, request: _Request, fault: Fault | None) -> _Reply | None:
        """The answer a fault forces, or None when the request is to be answered normally."""
        openai = request.provider == "openai"
        retry = {"Retry-After": "1"}
        if fault in ("429", "busy") and openai:
            reply = _openai_error(
                429, "Rate limit reached for requests per min. Try again in 1s.", "rate_limit_exceeded"
            )
            reply.headers.update(retry)
            return reply
        if fault == "429":
            return _eleven_error(429, "system_busy", "The system is experiencing heavy traffic, try again.", retry)
        if fault == "busy":
            return _eleven_error(
                429, "too_many_concurrent_requests", "Too many concurrent requests for your subscription."
            )
        if fault == "500":
            if openai:
                return _openai_error(
                    500, "The server had an error while processing your request.", None, "server_error"
                )
            return _eleven_error(500, "internal_server_error", "An internal error occurred.")
        if fault == "garbage":
            return _Reply(200, b"<html><body><h1>Welcome to the hotel Wi-Fi</h1></body></html>", "text/html")
        if fault == "401":
            return self._unauthorized(request)
        if fault == "refused":  # the text's fault, not the account's: a 400 in the provider's own words
            if openai:
                message = "Your request was rejected as a result of our safety system."
                return _openai_error(400, message, "content_policy_violation")
            return _eleven_error(400, "invalid_text", "The text could not be synthesized.")
        if fault == "quota":
            if openai:
                message = "You exceeded your current quota, please check your plan and billing details."
                return _openai_error(429, message, "insufficient_quota", "insufficient_quota")
            message = "This request exceeds your quota of 10000. You have 12 credits remaining."
            return _eleven_error(401, "quota_exceeded", message)
        return None

    def _unauthorized(self, request: _Request) -> _Reply:
        """A 401 in the provider's own shape; OpenAI's echoes a masked key, as the real one does."""
        if request.provider == "openai":
            sent_key = request.headers.get("authorization", "").removeprefix("Bearer ")
            message = (
                f"Incorrect API key provided: {_masked(sent_key)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys."
            )
            if not sent_key:
                message = "You didn't provide an API key. You need to provide your API key in an Authorization header."
            return _openai_error(401, message, "invalid_api_key")
        if "xi-api-key" not in request.headers:
            return _eleven_error(401, "needs_authorization", "Neither authorization header nor xi-api-key received.")
        return _eleven_error(401, "invalid_api_key", "Invalid API key")

    def _tone_hz(self, text: str) -> float:
        """The frequency `text` is spoken at: its own slot, taken when it is first spoken."""
        with self._lock:
            slot = self._tone_slots.setdefault(text, len(self._tone_slots) % TONE_SLOTS)
            self._spoken_at[slot] = text
        return TONE_HZ + slot * TONE_STEP_HZ

    def _heard(self, audio: bytes) -> str:
        """What a listener makes of `audio`: the text last spoken at its tone, or nothing."""
        samples, rate = soundfile.read(io.BytesIO(audio))
        hz = dominant_hz(samples, rate)
        slot = round((hz - TONE_HZ) / TONE_STEP_HZ) if hz is not None else -1
        with self._lock:
            text = self._spoken_at.get(slot, "")
        return self.mistranscribe.get(text, text)

    def _speech(self, text: str, sample_rate: int) -> np.ndarray[Any, np.dtype[np.int16]]:
        samples = tone(len(text) * self.seconds_per_char, sample_rate, self._tone_hz(text))
        if text in self.quieter:
            samples = (samples * 10 ** (-self.quieter[text] / 20)).astype("<i2")
        edge = np.zeros(round(self.edge_silence * sample_rate), dtype="<i2")
        return np.concatenate((edge, samples, edge))

    def _answer(self, request: _Request) -> _Reply:
        if request.provider == "openai":
            return self._answer_openai(request)
        return self._answer_elevenlabs(request)

    def _answer_openai(self, request: _Request) -> _Reply:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return self._unauthorized(request)
        if request.path == TRANSCRIPTIONS_PATH:
            return self._answer_transcription(request)
        body, text, model = request.body, request.text, request.model
        codec = str(body.get("response_format") or "mp3")
        speed = body.get("speed")
        if model not in OPENAI_MODELS:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return _openai_error(404, message, "model_not_found")
        if not text:
            return _openai_error(400, "Invalid 'input': empty string.", "empty_string")
        if len(text) > OPENAI_MAX_INPUT:
            message = (
                f"Invalid 'input': string too long. Expected a string with maximum length {OPENAI_MAX_INPUT}, "
                f"but got a string with length {len(text)} instead."
            )
            return _openai_error(400, message, "string_above_max_length")
        if request.voice not in OPENAI_VOICES:
            message = f"Invalid value: '{request.voice}'. Supported values are: {', '.join(OPENAI_VOICES)}."
            return _openai_error(400, message, "invalid_value")
        if codec not in _CONTENT_TYPES:
            return _openai_error(400, f"Invalid value: '{codec}'. This fake serves {', '.join(_CONTENT_TYPES)}.", None)
        if speed is not None and not (isinstance(speed, int | float) and 0.25 <= speed <= 4.0):
            return _openai_error(400, f"Invalid 'speed': {speed!r}; expected 0.25 to 4.0.", "invalid_value")
        if body.get("instructions") and model != "gpt-4o-mini-tts":
            return _openai_error(400, f"Instructions are not supported by {model}.", "unsupported_parameter")
        audio = _encode(self._speech(text, OPENAI_PCM_RATE), OPENAI_PCM_RATE, codec)
        return _Reply(200, audio, _CONTENT_TYPES[codec], {"x-request-id": f"req_{uuid.uuid4().hex}"})

    def _answer_transcription(self, request: _Request) -> _Reply:
        """OpenAI's `POST /v1/audio/transcriptions` (multipart: `model`, `file`), answered as JSON."""
        model = request.model
        if model not in OPENAI_TRANSCRIPTION_MODELS:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return _openai_error(404, message, "model_not_found")
        if not request.upload:
            return _openai_error(400, "Missing required parameter: 'file'.", "missing_required_parameter")
        if len(request.upload) > OPENAI_MAX_UPLOAD:
            return _openai_error(413, "Maximum content size limit (26214400) exceeded.", None)
        try:
            heard = self._heard(request.upload)
        except (soundfile.LibsndfileError, RuntimeError, ValueError):
            return _openai_error(400, "Audio file might be corrupted or unsupported", "invalid_value")
        return _json(200, {"text": heard}, {"x-request-id": f"req_{uuid.uuid4().hex}"})

    def _answer_elevenlabs(self, request: _Request) -> _Reply:
        if request.headers.get("xi-api-key") != self.api_key:
            return self._unauthorized(request)
        body, text, model, voice = request.body, request.text, request.model, request.voice
        output_format = request.query.get("output_format", "mp3_44100_128")
        match = _ELEVENLABS_FORMAT.fullmatch(output_format)
        if match is None or int(match["rate"]) not in _ELEVENLABS_RATES[match["codec"]]:
            problem = {"type": "enum", "loc": ["query", "output_format"], "msg": "Input should be a known format"}
            return _json(422, {"detail": [{**problem, "input": output_format}]})
        if voice not in {v["voice_id"] for v in self.account_voices}:
            return _eleven_error(404, "voice_not_found", f"A voice with the voice_id {voice} was not found.")
        if model not in ELEVENLABS_LIMITS:
            return _eleven_error(400, "model_not_found", f"A model with model ID {model} does not exist.")
        for locator in body.get("pronunciation_dictionary_locators") or []:
            if locator.get("pronunciation_dictionary_id") not in self.dictionaries:
                return _eleven_error(404, "pronunciation_dictionary_not_found", "No such pronunciation dictionary.")
        if not text.strip():
            return _eleven_error(400, "empty_text", "The text is empty.")
        if len(text) > ELEVENLABS_LIMITS[model]:
            message = (
                f"Text of {len(text)} characters exceeds the {ELEVENLABS_LIMITS[model]} character limit of {model}."
            )
            return _eleven_error(400, "max_character_limit_exceeded", message)
        request_ids = body.get("previous_request_ids") or []
        if request_ids and model == "eleven_v3":
            return _eleven_error(400, "unsupported_model", "Request stitching is not available for eleven_v3.")
        if len(request_ids) > ELEVENLABS_MAX_REQUEST_IDS:
            message = f"At most {ELEVENLABS_MAX_REQUEST_IDS} previous_request_ids may be sent."
            return _eleven_error(400, "invalid_request", message)
        rate = int(match["rate"])
        audio = _encode(self._speech(text, rate), rate, match["codec"])
        cost = len(text) // 2 if ("flash" in model or "turbo" in model) else len(text)
        headers = {"request-id": uuid.uuid4().hex[:20], "character-cost": str(cost)}
        return _Reply(200, audio, _CONTENT_TYPES[match["codec"]], headers)


def _form(content_type: str, raw: bytes) -> tuple[dict[str, Any] | None, bytes]:
    """A multipart/form-data body as the SDK sends it: its text fields, and the `file` part's bytes."""
    if not content_type.startswith("multipart/form-data"):
        return None, b""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    fields: dict[str, Any] = {}
    upload = b""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        if name == "file":
            upload = payload
        else:
            fields[name] = payload.decode(errors="replace")
    return fields, upload


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeProviders, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    """Parses a request, lets the fake answer it; keep-alive HTTP/1.1, like the real APIs."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms stalls

    @property
    def fake(self) -> FakeProviders:
        return cast(_Server, self.server).fake

    def setup(self) -> None:
        super().setup()
        self.fake._track(self.connection, opened=True)

    def finish(self) -> None:
        self.fake._track(self.connection, opened=False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the call log says what happened."""

    def do_GET(self) -> None:
        """ElevenLabs' voices API: the account's voices, for its key only."""
        url = urlsplit(self.path)
        if url.path != "/v1/voices":
            self.send(_json(404, {"error": f"cannot handle GET {url.path}"}))
            return
        if self.headers.get("xi-api-key") != self.fake.api_key:
            self.send(_eleven_error(401, "invalid_api_key", "Invalid API key"))
            return
        with self.fake._lock:
            self.fake.voice_listings += 1
            voices = list(self.fake.account_voices)
        self.send(_json(200, {"voices": voices}))

    def _dictionary(self, raw: bytes) -> None:
        """ElevenLabs' add-from-rules: a new dictionary of the rules sent, for the account's key."""
        if self.headers.get("xi-api-key") != self.fake.api_key:
            self.send(_eleven_error(401, "invalid_api_key", "Invalid API key"))
            return
        body = json.loads(raw or b"{}")
        made = f"pd{uuid.uuid4().hex[:18]}"
        with self.fake._lock:
            self.fake.dictionaries[made] = list(body.get("rules") or [])
        rules = len(self.fake.dictionaries[made])
        answer = {"id": made, "name": body.get("name", ""), "created_by": "fake", "creation_time_unix": 0,
                  "version_id": "v1", "version_rules_num": rules}  # fmt: skip
        self.send(_json(200, answer))

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path == "/v1/pronunciation-dictionaries/add-from-rules":
            self._dictionary(raw)
            return
        provider: ProviderName | None = None
        if url.path in ("/v1/audio/speech", TRANSCRIPTIONS_PATH):
            provider = "openai"
        elif re.fullmatch(r"/v1/text-to-speech/[^/]+", url.path):
            provider = "elevenlabs"
        upload = b""
        body: dict[str, Any] | None
        if url.path == TRANSCRIPTIONS_PATH:
            body, upload = _form(self.headers.get("Content-Type", ""), raw)
        else:
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = None
        if provider is None or not isinstance(body, dict):
            self.send(_json(404 if provider is None else 400, {"error": f"cannot handle POST {url.path}"}))
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = _Request(provider, url.path, headers, body, dict(parse_qsl(url.query)), upload)
        try:
            self.fake._serve(self, request)
        except OSError:  # the client gave up (timeout) or the fake is closing
            self.close_connection = True

    def send(self, reply: _Reply, *, truncate: bool = False) -> None:
        """Send `reply`; `truncate` announces the whole body, sends half and drops the connection."""
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body[: len(reply.body) // 2] if truncate else reply.body)
        if truncate:
            self.close_connection = True
