"""Which providers, models and voices exist, their per-request limits and prices: data, not code.

The page lists from here and submit validates against it, so a voice nobody can synthesize is
refused before a row is written; the engine chunks text to each model's per-request limit.
Prices are list prices in USD per million characters (ElevenLabs: credits at $0.30 per 1,000;
gpt-4o-mini-tts is billed by tokens, about $16.70 per million characters of English). The
listen-back check's transcription is billed per minute of audio heard.
"""

from __future__ import annotations

from dataclasses import dataclass

from db.models import Provider
from db.settings import Settings
from workers.engine.chunking import split


@dataclass(frozen=True)
class Model:
    """One model of a provider."""

    id: str
    label: str
    max_chars: int
    usd_per_million_chars: float
    voices: tuple[str, ...]
    takes_instructions: bool = False


@dataclass(frozen=True)
class ProviderInfo:
    """A provider, the setting that enables it (None: needs no key), and its models."""

    id: Provider
    label: str
    key_setting: str | None
    models: tuple[Model, ...]

    def model(self, model_id: str) -> Model | None:
        return next((m for m in self.models if m.id == model_id), None)


OUTPUT_FORMATS = ("wav", "mp3", "flac", "ogg")
"""What a finished narration can be saved as; chunks are joined as PCM and encoded once."""

_OPENAI_VOICES = (
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar",
)  # fmt: skip
# ElevenLabs' premade voices (Rachel, Sarah, Adam, Antoni, Elli); the account's own voices (cloned, designed,
# from its library) come beside them from its voices API (workers/engine/account_voices.py).
_ELEVEN_VOICE_NAMES = {
    "21m00Tcm4TlvDq8ikWAM": "Rachel", "EXAVITQu4vr4xnSDxMaL": "Sarah", "pNInz6obpgDQGcFmaJgB": "Adam",
    "ErXwobaYiN019PkySvjV": "Antoni", "MF3mGyEYCl7XYWbV9V6O": "Elli",
}  # fmt: skip
ELEVEN_VOICES = tuple(_ELEVEN_VOICE_NAMES)
"""The premade voices the catalogue offers for every ElevenLabs model (an account has them all)."""

CATALOGUE: tuple[ProviderInfo, ...] = (
    ProviderInfo(
        Provider.LOCAL,
        "Local voice (Piper, offline)",
        None,
        # No request limit of its own; 2,000 characters keeps chunks short enough to resume and to
        # show progress.
        (Model("piper:en_US-joe-medium", "Piper en_US joe (medium)", 2_000, 0.0, ("joe",)),),
    ),
    ProviderInfo(
        Provider.OPENAI,
        "OpenAI",
        "OPENAI_API_KEY",
        (
            Model("tts-1", "tts-1", 4_096, 15.0, _OPENAI_VOICES),
            Model("tts-1-hd", "tts-1-hd", 4_096, 30.0, _OPENAI_VOICES),
            Model("gpt-4o-mini-tts", "gpt-4o-mini-tts", 4_096, 16.7, _OPENAI_VOICES, takes_instructions=True),
        ),
    ),
    ProviderInfo(
        Provider.ELEVENLABS,
        "ElevenLabs",
        "ELEVENLABS_API_KEY",
        (
            Model("eleven_multilingual_v2", "Multilingual v2", 10_000, 300.0, ELEVEN_VOICES),
            Model("eleven_flash_v2_5", "Flash v2.5", 40_000, 150.0, ELEVEN_VOICES),
            Model("eleven_turbo_v2_5", "Turbo v2.5", 40_000, 150.0, ELEVEN_VOICES),
            Model("eleven_flash_v2", "Flash v2", 30_000, 150.0, ELEVEN_VOICES),
            Model("eleven_turbo_v2", "Turbo v2", 30_000, 150.0, ELEVEN_VOICES),
            Model("eleven_v3", "Eleven v3", 5_000, 300.0, ELEVEN_VOICES),
        ),
    ),
)


def provider(provider_id: str) -> ProviderInfo | None:
    return next((p for p in CATALOGUE if p.id == provider_id), None)


def model(provider_id: str, model_id: str) -> Model | None:
    info = provider(provider_id)
    return info.model(model_id) if info else None


def voice_name(provider_id: str, voice_id: str) -> str:
    """What people call a voice: ElevenLabs' premade voices by name, other voices by their id."""
    if provider_id == Provider.ELEVENLABS:
        return _ELEVEN_VOICE_NAMES.get(voice_id, voice_id)
    return voice_id


def missing_key(info: ProviderInfo, settings: Settings) -> str | None:
    """The setting to set before this provider can be used, or None when it is usable."""
    if info.key_setting is None:
        return None
    value = getattr(settings, info.key_setting.lower())
    return None if value is not None and value.get_secret_value() else info.key_setting


def estimated_cost_usd(model: Model, characters: int) -> float:
    return model.usd_per_million_chars * characters / 1_000_000


SPOKEN_CHARS_PER_SECOND = 15.0
"""English narration runs at about 150 words a minute, about 15 characters a second."""


TRANSCRIPTION_USD_PER_MINUTE = {"gpt-4o-mini-transcribe": 0.003, "gpt-4o-transcribe": 0.006, "whisper-1": 0.006}
"""OpenAI's list prices per minute of audio for the listen-back models (LISTEN_BACK_MODEL); the
gpt-4o ones are billed by tokens, and these are OpenAI's own per-minute estimates of them."""


def listen_back_cost_usd(transcription_model: str, characters: int) -> float:
    """What hearing back the narration of `characters` costs: every passage is transcribed once."""
    minutes = characters / SPOKEN_CHARS_PER_SECOND / 60
    return TRANSCRIPTION_USD_PER_MINUTE[transcription_model] * minutes


def narration_cost_usd(model: Model, characters: int, *, listen_back_model: str | None) -> float:
    """The synthesis, plus the listen-back when `listen_back_model` is given: what the budget counts."""
    heard = listen_back_cost_usd(listen_back_model, characters) if listen_back_model else 0.0
    return estimated_cost_usd(model, characters) + heard


@dataclass(frozen=True)
class Estimate:
    """What the page shows before submit: size, chunks, length and price (the listen-back's included)."""

    characters: int
    chunks: int
    seconds: float
    cost_usd: float
    listen_back_usd: float = 0.0


def estimate(model: Model, text: str, *, listen_back_model: str | None = None) -> Estimate:
    """`listen_back_model`: the transcription model when the listen-back check is asked for."""
    characters = len(text)
    return Estimate(
        characters,
        len(split(text, model.max_chars)),
        characters / SPOKEN_CHARS_PER_SECOND,
        narration_cost_usd(model, characters, listen_back_model=listen_back_model),
        listen_back_cost_usd(listen_back_model, characters) if listen_back_model else 0.0,
    )
