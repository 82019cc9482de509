"""Which providers, models and voices exist, their per-request limits and prices: data, not code.

The page lists from here and submit validates against it, so a voice nobody can synthesize is
refused before a row is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from db.models import Provider
from db.settings import Settings


@dataclass(frozen=True)
class Model:
    """One model of a provider."""

    id: str
    label: str
    max_chars: int
    usd_per_million_chars: float
    voices: tuple[str, ...]


@dataclass(frozen=True)
class ProviderInfo:
    """A provider, the setting that enables it (None: needs no key), and its models."""

    id: Provider
    label: str
    key_setting: str | None
    models: tuple[Model, ...]

    def model(self, model_id: str) -> Model | None:
        return next((m for m in self.models if m.id == model_id), None)


_OPENAI_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "onyx",
    "nova",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)
_ELEVEN_VOICES = ("21m00Tcm4TlvDq8ikWAM", "EXAVITQu4vr4xnSDxMaL", "pNInz6obpgDQGcFmaJgB")

CATALOGUE: tuple[ProviderInfo, ...] = (
    ProviderInfo(
        Provider.LOCAL,
        "Local voice (Piper, offline)",
        None,
        (Model("piper:en_US-joe-medium", "Piper en_US joe (medium)", 200_000, 0.0, ("joe",)),),
    ),
    ProviderInfo(
        Provider.OPENAI,
        "OpenAI",
        "OPENAI_API_KEY",
        (
            Model("tts-1", "tts-1", 4_096, 15.0, _OPENAI_VOICES),
            Model("tts-1-hd", "tts-1-hd", 4_096, 30.0, _OPENAI_VOICES),
        ),
    ),
    ProviderInfo(
        Provider.ELEVENLABS,
        "ElevenLabs",
        "ELEVENLABS_API_KEY",
        (
            Model("eleven_multilingual_v2", "Multilingual v2", 10_000, 300.0, _ELEVEN_VOICES),
            Model("eleven_flash_v2_5", "Flash v2.5", 40_000, 150.0, _ELEVEN_VOICES),
        ),
    ),
)


def provider(provider_id: str) -> ProviderInfo | None:
    return next((p for p in CATALOGUE if p.id == provider_id), None)


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


@dataclass(frozen=True)
class Estimate:
    """What the page shows before submit: size, chunks, length and price."""

    characters: int
    chunks: int
    seconds: float
    cost_usd: float


def estimate(model: Model, text: str) -> Estimate:
    characters = len(text)
    chunks = max(1, -(-characters // model.max_chars)) if characters else 0
    return Estimate(characters, chunks, characters / SPOKEN_CHARS_PER_SECOND, estimated_cost_usd(model, characters))
