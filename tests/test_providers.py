"""The OpenAI and ElevenLabs providers, through the official SDKs, against the HTTP-level fake.

What the engine relies on: audio comes back as PCM of the right length and rate with the provider's
request id and billing; every way a provider can fail lands in the right error class (retry, wait
for a slot, or tell a person), and what a person reads names the setting or voice to fix and never
the key. No database or Redis needed.
"""

from __future__ import annotations

import contextlib
import io
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import openai
import pytest
import soundfile
from elevenlabs.client import ElevenLabs

from tests.fake_providers import FakeProviders, Fault, ProviderName
from workers.engine.providers.base import Busy, ChunkAudio, ChunkRequest, Permanent, ProviderError, Transient
from workers.engine.providers.elevenlabs_tts import ElevenLabsProvider
from workers.engine.providers.openai_tts import OpenAIProvider

KEY = "sk-test-4f9c2e7a1b8d6c3e"
SECONDS_PER_CHAR = 0.06
TEXT = "The lighthouse keeper counted the ships until the fog came in."
VOICE = "21m00Tcm4TlvDq8ikWAM"
OPENAI_CHUNK = ChunkRequest(TEXT, "tts-1", "alloy")
ELEVEN_CHUNK = ChunkRequest(TEXT, "eleven_multilingual_v2", VOICE)


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    with FakeProviders(api_key=KEY, seconds_per_char=SECONDS_PER_CHAR, slow_seconds=0.2) as fake:
        yield fake


def openai_provider(fake: FakeProviders, *, key: str = KEY, timeout: float = 2.0) -> OpenAIProvider:
    return OpenAIProvider(api_key=key, base_url=fake.openai_base_url, timeout=timeout)


def eleven_provider(fake: FakeProviders, *, key: str = KEY, timeout: float = 2.0) -> ElevenLabsProvider:
    return ElevenLabsProvider(api_key=key, base_url=fake.elevenlabs_base_url, timeout=timeout)


def synthesize(fake: FakeProviders, provider: ProviderName, *, key: str = KEY, timeout: float = 2.0) -> ChunkAudio:
    if provider == "openai":
        return openai_provider(fake, key=key, timeout=timeout).synthesize(OPENAI_CHUNK)
    return eleven_provider(fake, key=key, timeout=timeout).synthesize(ELEVEN_CHUNK)


def expected_samples(text: str, sample_rate: int) -> int:
    return round(len(text) * SECONDS_PER_CHAR * sample_rate)


def rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2)) / 32768.0)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- success ---------------------------------------------------------------------------------------


def test_openai_returns_24khz_pcm_with_its_request_id_and_billed_characters(fake: FakeProviders) -> None:
    audio = synthesize(fake, "openai")

    assert audio.sample_rate == 24_000
    assert len(audio.pcm) == 2 * expected_samples(TEXT, 24_000)
    assert audio.seconds == pytest.approx(len(TEXT) * SECONDS_PER_CHAR, abs=1e-4)
    assert rms(audio.pcm) > 0.01, "the audio is silent"
    [call] = fake.calls
    assert audio.request_id is not None and audio.request_id == call.request_id
    assert audio.characters_billed == len(TEXT)
    assert (call.model, call.voice, call.params["response_format"]) == ("tts-1", "alloy", "pcm")


@pytest.mark.parametrize(("model", "billed"), [("eleven_multilingual_v2", len(TEXT)), ("eleven_flash_v2_5", 31)])
def test_elevenlabs_returns_24khz_pcm_with_its_request_id_and_character_cost(
    fake: FakeProviders, model: str, billed: int
) -> None:
    audio = eleven_provider(fake).synthesize(ChunkRequest(TEXT, model, VOICE))

    assert audio.sample_rate == 24_000
    assert len(audio.pcm) == 2 * expected_samples(TEXT, 24_000)
    assert rms(audio.pcm) > 0.01, "the audio is silent"
    [call] = fake.calls
    assert audio.request_id is not None and audio.request_id == call.request_id
    assert audio.characters_billed == billed
    assert (call.model, call.voice, call.params["output_format"]) == (model, VOICE, "pcm_24000")


def test_openai_gets_speed_and_gives_instructions_only_to_the_model_that_takes_them(fake: FakeProviders) -> None:
    provider = openai_provider(fake)
    calm = "Speak slowly, like a bedtime story."

    provider.synthesize(ChunkRequest("First chunk.", "tts-1-hd", "nova", instructions=calm, speed=1.25))
    provider.synthesize(ChunkRequest("Second chunk.", "gpt-4o-mini-tts", "nova", instructions=calm))

    [first] = fake.calls_for("First chunk.")
    [second] = fake.calls_for("Second chunk.")
    assert first.status == 200 and first.params["speed"] == 1.25 and "instructions" not in first.params
    assert second.status == 200 and second.params["instructions"] == calm and "speed" not in second.params


def test_elevenlabs_sends_the_surrounding_text_and_the_previous_request_ids(fake: FakeProviders) -> None:
    provider = eleven_provider(fake)
    first = provider.synthesize(ChunkRequest("Chapter one ends here.", "eleven_multilingual_v2", VOICE))
    assert first.request_id is not None

    provider.synthesize(
        ChunkRequest(
            "Chapter two begins.",
            "eleven_multilingual_v2",
            VOICE,
            previous_text="Chapter one ends here.",
            next_text="Chapter three waits.",
            previous_request_ids=(first.request_id,),
        )
    )

    [second] = fake.calls_for("Chapter two begins.")
    assert second.status == 200
    assert second.params["previous_text"] == "Chapter one ends here."
    assert second.params["next_text"] == "Chapter three waits."
    assert second.params["previous_request_ids"] == [first.request_id]


def test_elevenlabs_v3_keeps_the_surrounding_text_but_gets_no_request_ids(fake: FakeProviders) -> None:
    chunk = ChunkRequest("A v3 chunk.", "eleven_v3", VOICE, previous_text="Before.", previous_request_ids=("abc",))

    audio = eleven_provider(fake).synthesize(chunk)

    [call] = fake.calls
    assert len(audio.pcm) == 2 * expected_samples("A v3 chunk.", 24_000)
    assert call.params["previous_text"] == "Before." and call.params.get("previous_request_ids") is None


def test_a_slow_answer_still_arrives(fake: FakeProviders) -> None:
    fake.fail_next("slow", times=2)
    started = time.monotonic()

    for provider in ("openai", "elevenlabs"):
        audio = synthesize(fake, provider)
        assert len(audio.pcm) == 2 * expected_samples(TEXT, 24_000)

    assert time.monotonic() - started >= 2 * fake.slow_seconds


# --- failures worth retrying -----------------------------------------------------------------------

RETRYABLE: list[tuple[ProviderName, Fault, type[ProviderError], float | None]] = [
    ("openai", "429", Transient, 1.0),
    ("openai", "busy", Transient, 1.0),
    ("openai", "500", Transient, None),
    ("openai", "garbage", Transient, None),
    ("openai", "truncated", Transient, None),
    ("elevenlabs", "429", Transient, 1.0),
    ("elevenlabs", "busy", Busy, None),
    ("elevenlabs", "500", Transient, None),
    ("elevenlabs", "garbage", Transient, None),
    ("elevenlabs", "truncated", Transient, None),
]


@pytest.mark.parametrize(("provider", "fault", "error", "retry_after"), RETRYABLE)
def test_passing_faults_are_retryable(
    fake: FakeProviders,
    provider: ProviderName,
    fault: Fault,
    error: type[ProviderError],
    retry_after: float | None,
) -> None:
    fake.fail_next(fault)

    with pytest.raises(Transient) as raised:
        synthesize(fake, provider)

    assert type(raised.value) is error
    assert raised.value.retry_after == retry_after
    assert KEY not in str(raised.value)
    assert [call.fault for call in fake.calls] == [fault]
    audio = synthesize(fake, provider)  # the fault has passed: the retry succeeds
    assert len(audio.pcm) == 2 * expected_samples(TEXT, 24_000)


@pytest.mark.parametrize("provider", ["openai", "elevenlabs"])
def test_a_provider_that_never_answers_times_out_as_retryable(fake: FakeProviders, provider: ProviderName) -> None:
    fake.fail_next("hang")
    started = time.monotonic()

    with pytest.raises(Transient, match="did not answer within 1 s"):
        synthesize(fake, provider, timeout=1.0)

    assert time.monotonic() - started < 3.0
    assert [call.status for call in fake.calls] == [None]


@pytest.mark.parametrize("provider", ["openai", "elevenlabs"])
def test_an_unreachable_provider_is_retryable(provider: ProviderName) -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    chosen = (
        OpenAIProvider(api_key=KEY, base_url=f"{url}/v1", timeout=2.0)
        if provider == "openai"
        else ElevenLabsProvider(api_key=KEY, base_url=url, timeout=2.0)
    )

    with pytest.raises(Transient) as raised:
        chosen.synthesize(OPENAI_CHUNK if provider == "openai" else ELEVEN_CHUNK)

    assert type(raised.value) is Transient and KEY not in str(raised.value)


# --- failures a person must fix ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "fault", "says"),
    [
        ("openai", "401", "OPENAI_API_KEY"),
        ("openai", "quota", "billing"),
        ("elevenlabs", "401", "ELEVENLABS_API_KEY"),
        ("elevenlabs", "quota", "quota"),
    ],
)
def test_key_and_quota_faults_are_permanent_and_say_what_to_check(
    fake: FakeProviders, provider: ProviderName, fault: Fault, says: str
) -> None:
    fake.fail_next(fault)

    with pytest.raises(Permanent, match=says) as raised:
        synthesize(fake, provider)

    assert KEY not in str(raised.value)


@pytest.mark.parametrize(("provider", "setting"), [("openai", "OPENAI_API_KEY"), ("elevenlabs", "ELEVENLABS_API_KEY")])
def test_a_wrong_key_names_the_setting_and_never_the_key(
    fake: FakeProviders, provider: ProviderName, setting: str
) -> None:
    wrong = "sk-wrong-7d1e9b3c5a2f8e4d"

    with pytest.raises(Permanent, match=setting) as raised:
        synthesize(fake, provider, key=wrong)

    assert wrong not in str(raised.value) and wrong[-4:] not in str(raised.value)
    assert [call.status for call in fake.calls] == [401]


@pytest.mark.parametrize(
    ("provider", "setting"), [(OpenAIProvider, "OPENAI_API_KEY"), (ElevenLabsProvider, "ELEVENLABS_API_KEY")]
)
def test_an_empty_key_is_refused_up_front_naming_the_setting(
    fake: FakeProviders, provider: type[OpenAIProvider | ElevenLabsProvider], setting: str
) -> None:
    with pytest.raises(Permanent, match=setting):
        provider(api_key="", base_url=fake.base_url)

    assert fake.calls == []


@pytest.mark.parametrize("provider", ["openai", "elevenlabs"])
def test_an_empty_200_is_retryable(fake: FakeProviders, provider: ProviderName) -> None:
    fake.seconds_per_char = 0.0  # the fake answers 200 with no audio at all

    with pytest.raises(Transient, match="no audio"):
        synthesize(fake, provider)


def test_an_unknown_openai_voice_is_permanent_with_openais_reason(fake: FakeProviders) -> None:
    with pytest.raises(Permanent, match="Invalid value: 'gandalf'"):
        openai_provider(fake).synthesize(ChunkRequest(TEXT, "tts-1", "gandalf"))


def test_an_unknown_openai_model_is_permanent_with_openais_reason(fake: FakeProviders) -> None:
    with pytest.raises(Permanent, match=r"\(404\).*tts-9"):
        openai_provider(fake).synthesize(ChunkRequest(TEXT, "tts-9", "alloy"))


def test_an_unknown_elevenlabs_voice_is_permanent_and_named(fake: FakeProviders) -> None:
    with pytest.raises(Permanent, match="no voice 'NoSuchVoice123'"):
        eleven_provider(fake).synthesize(ChunkRequest(TEXT, "eleven_multilingual_v2", "NoSuchVoice123"))


def test_text_over_openais_limit_is_permanent(fake: FakeProviders) -> None:
    with pytest.raises(Permanent, match="maximum length 4096, but got a string with length 4097"):
        openai_provider(fake).synthesize(ChunkRequest("a" * 4097, "tts-1", "alloy"))


def test_text_over_the_elevenlabs_model_limit_is_permanent(fake: FakeProviders) -> None:
    fake.seconds_per_char = 0.001  # 5,000 characters of audio at the default would be 14 MB
    eleven_provider(fake).synthesize(ChunkRequest("a" * 5000, "eleven_v3", VOICE))  # at the limit: fine

    with pytest.raises(Permanent, match="5001 characters as too long for eleven_v3"):
        eleven_provider(fake).synthesize(ChunkRequest("a" * 5001, "eleven_v3", VOICE))


# --- the fake itself: what other tests and benchmarks lean on --------------------------------------------


def test_scripted_faults_go_to_the_named_provider_the_given_number_of_times(fake: FakeProviders) -> None:
    fake.fail_next("500", times=2, provider="elevenlabs")

    synthesize(fake, "openai")
    for _ in range(2):
        with pytest.raises(Transient):
            synthesize(fake, "elevenlabs")
    synthesize(fake, "elevenlabs")

    assert [(call.provider, call.status) for call in fake.calls] == [
        ("openai", 200),
        ("elevenlabs", 500),
        ("elevenlabs", 500),
        ("elevenlabs", 200),
    ]


def test_random_faults_repeat_with_the_same_seed() -> None:
    def statuses(seed: int) -> list[int | None]:
        with FakeProviders(api_key=KEY) as fake:
            fake.random_faults(0.5, ["500", "429"], seed=seed)
            provider = openai_provider(fake)
            for _ in range(12):
                with contextlib.suppress(Transient):
                    provider.synthesize(ChunkRequest("Tick.", "tts-1", "alloy"))
            return [call.status for call in fake.calls]

    first = statuses(7)
    assert first == statuses(7)
    assert {200, 500, 429} == set(first)


def test_cleared_faults_stop_failing_requests(fake: FakeProviders) -> None:
    fake.random_faults(1.0, ["500"], seed=1)
    fake.fail_next("401", times=5)
    with pytest.raises(Permanent):
        synthesize(fake, "openai")

    fake.clear_faults()

    assert len(synthesize(fake, "openai").pcm) == 2 * expected_samples(TEXT, 24_000)
    assert [call.fault for call in fake.calls] == ["401", None]


def test_concurrency_is_counted_and_the_elevenlabs_plan_limit_answers_busy() -> None:
    with FakeProviders(api_key=KEY, latency=0.4, concurrency_limits={"elevenlabs": 2}) as fake:
        provider = eleven_provider(fake)

        def attempt(index: int) -> str:
            try:
                provider.synthesize(ChunkRequest(f"Line {index}.", "eleven_flash_v2_5", VOICE))
            except Busy:
                return "busy"
            return "ok"

        with ThreadPoolExecutor(max_workers=3) as pool:
            outcomes = sorted(pool.map(attempt, range(3)))

        assert outcomes == ["busy", "ok", "ok"]
        assert fake.max_concurrent_seen == {"openai": 0, "elevenlabs": 3}


@pytest.mark.parametrize(("output_format", "sample_rate"), [("pcm_16000", 16_000), ("mp3_44100_128", 44_100)])
def test_elevenlabs_formats_decode_to_the_text_length(
    fake: FakeProviders, output_format: str, sample_rate: int
) -> None:
    client = ElevenLabs(api_key=KEY, base_url=fake.elevenlabs_base_url)

    audio = b"".join(client.text_to_speech.convert(VOICE, text=TEXT, output_format=output_format))

    if output_format.startswith("pcm"):
        assert len(audio) == 2 * expected_samples(TEXT, sample_rate)
    else:
        samples, rate = soundfile.read(io.BytesIO(audio), dtype="int16")
        assert rate == sample_rate
        assert abs(len(samples) - expected_samples(TEXT, sample_rate)) < 0.05 * sample_rate


def test_openai_mp3_decodes_to_the_text_length(fake: FakeProviders) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=fake.openai_base_url, max_retries=0)

    mp3 = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="mp3").content

    samples, rate = soundfile.read(io.BytesIO(mp3), dtype="int16")
    assert rate == 24_000
    assert abs(len(samples) - expected_samples(TEXT, 24_000)) < 0.05 * 24_000
