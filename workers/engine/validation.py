"""What a narration must be before anything is paid for: one set of rules for submit and the job.

The compose page's submit checks a request before writing its row; the worker checks a row before
its first provider request, because rows written by the Django app (or by hand) never went
through submit. Both call `check`, so the two cannot drift apart: a row submit would refuse fails
at once in the worker, with the same sentence, and costs nothing.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Protocol

from db.models import Provider
from db.settings import Settings
from workers.engine import account_voices, catalogue, mastering

MAX_PROMPT_CHARS = 100_000
DEFAULT_FORMAT = "wav"
"""What a row with no output format (every row the Django app writes) is saved as."""


class Invalid(ValueError):
    """The narration cannot be synthesized as asked; the message says what to change."""


@dataclass(frozen=True)
class Checked:
    """What to synthesize with, blanks filled by the catalogue's defaults."""

    model: catalogue.Model
    voice: str
    output_format: str
    """The narration's own format, or the one its mastering profile requires (ACX: MP3)."""
    profile: mastering.Profile


class Asked(Protocol):
    """What a narration asks for, as a submitted request and a claimed row both spell it."""

    @property
    def prompt(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def model(self) -> str | None: ...
    @property
    def voice(self) -> str | None: ...
    @property
    def output_format(self) -> str | None: ...
    @property
    def instructions(self) -> str | None: ...
    @property
    def speed(self) -> float | None: ...
    @property
    def mastering(self) -> str | None: ...


def is_blank(text: str) -> bool:
    """Nothing a voice could read: only whitespace and invisible format characters (Unicode
    category Cf: zero-width space U+200B, word joiner U+2060, byte-order mark U+FEFF, ...)."""
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in text)


def too_long(text: str) -> str | None:
    """The refusal for a text over the limit, or None; the compose page shows it instead of an estimate."""
    if len(text) <= MAX_PROMPT_CHARS:
        return None
    return (
        f"The text has {len(text):,} characters; the most one narration takes is {MAX_PROMPT_CHARS:,}. "
        "Split it into parts."
    )


def check(
    settings: Settings,
    *,
    prompt: str,
    provider: str,
    model: str | None,
    voice: str | None,
    output_format: str | None,
    instructions: str | None = None,
    speed: float | None = None,
    mastering_profile: str | None = None,
) -> Checked:
    """Raise Invalid with a sentence for the first thing wrong; a blank model, voice or format
    (the Django app leaves them blank) means the catalogue's default."""
    refusal = too_long(prompt)
    if refusal:
        raise Invalid(refusal)
    if is_blank(prompt):
        raise Invalid(
            "The text is empty (or only spaces and invisible characters). Write or paste the text to narrate."
        )
    info = catalogue.provider(provider)
    if info is None:
        raise Invalid(f"Unknown provider {provider!r}. Pick one from the list: local, openai or elevenlabs.")
    missing = catalogue.missing_key(info, settings)
    if missing:
        raise Invalid(f"{info.label} needs an API key: set {missing} in the environment or .streamlit/secrets.toml.")
    fmt = output_format or DEFAULT_FORMAT
    if fmt not in catalogue.OUTPUT_FORMATS:
        raise Invalid(f"Unknown output format {fmt!r}; pick one of {', '.join(catalogue.OUTPUT_FORMATS)}.")
    if mastering_profile is not None and mastering_profile not in mastering.PROFILES:
        names = ", ".join(mastering.PROFILES)
        raise Invalid(f"Unknown mastering profile {mastering_profile!r}; pick one of {names}.")
    profile = mastering.profile_for(mastering_profile, settings)
    chosen = info.model(model) if model else info.models[0]
    if chosen is None:
        raise Invalid(f"{info.label} has no model {model!r}. Pick one from the list.")
    if instructions and not chosen.takes_instructions:
        raise Invalid(f"{info.label} {chosen.label} takes no tone instructions; pick gpt-4o-mini-tts or clear them.")
    if speed is not None and (provider != "openai" or not 0.25 <= speed <= 4.0):
        raise Invalid("Speed is an OpenAI option between 0.25 and 4.0.")
    chosen_voice = voice or chosen.voices[0]
    if chosen_voice not in chosen.voices:
        _account_voice(settings, info, chosen, chosen_voice)
    return Checked(chosen, chosen_voice, profile.output_format or fmt, profile)


def _account_voice(settings: Settings, info: catalogue.ProviderInfo, model: catalogue.Model, voice: str) -> None:
    """A voice the catalogue does not list is allowed when it is one of the ElevenLabs account's own
    (listed through its voices API); raise Invalid otherwise, before anything is paid for."""
    if info.id == Provider.ELEVENLABS and account_voices.named(voice, settings) is not None:
        return
    if account_voices.missing(info.id.value, voice, settings):
        raise Invalid(
            f"The ElevenLabs voice {voice!r} is no longer in the account (deleted in its studio?). Pick another "
            "voice, or refresh the account's voices on Compose if it was just added."
        )
    raise Invalid(f"{info.label} {model.label} has no voice {voice!r}. Pick one from the list.")


def check_asked(settings: Settings, asked: Asked) -> Checked:
    """`check` on a request or a claimed row: one call, so submit and the job pass the same fields."""
    return check(
        settings,
        prompt=asked.prompt,
        provider=asked.provider,
        model=asked.model,
        voice=asked.voice,
        output_format=asked.output_format,
        instructions=asked.instructions,
        speed=asked.speed,
        mastering_profile=asked.mastering,
    )
