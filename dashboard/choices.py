"""The voice controls shared by compose and "duplicate with changes": provider, model, voice,
tone, speed, format and priority, each starting from a given value, plus a sample to hear."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from dashboard import labels
from dashboard.plain import md
from db.models import Provider
from db.narrations import Kind
from db.settings import get_settings
from workers.engine import account_voices, catalogue, mastering
from workers.service.roles import SignedIn
from workers.service.samples import NoSample, voice_sample
from workers.service.submit import Request


@dataclass(frozen=True)
class VoiceChoice:
    """What the person picked; `missing_key` names the setting the provider still needs, if any."""

    info: catalogue.ProviderInfo
    model: catalogue.Model
    voice: str
    output_format: str
    priority: int
    instructions: str | None
    speed: float | None
    mastering: str
    missing_key: str | None

    def request(self, *, kind: Kind, target_id: int, prompt: str, **rest: Any) -> Request:
        """A submission in this voice; `rest` holds the other Request fields (theme, tags, user_id, ...)."""
        return Request(
            kind=kind,
            target_id=target_id,
            prompt=prompt,
            provider=self.info.id.value,
            model=self.model.id,
            voice=self.voice,
            output_format=self.output_format,
            priority=self.priority,
            instructions=self.instructions,
            speed=self.speed,
            mastering=self.mastering,
            **rest,
        )


def _index(options: list[str], value: str | None) -> int:
    return options.index(value) if value in options else 0


def voice_picker(
    key: str, *, provider: str | None = None, model: str | None = None, voice: str | None = None
) -> tuple[catalogue.ProviderInfo, catalogue.Model, str]:
    """Provider, model and voice, side by side (keys prefixed with `key`): compose's first row, and
    a project's fallback voice."""
    providers = {p.id.value: p for p in catalogue.CATALOGUE}
    left, middle, right = st.columns(3)
    provider_ids = list(providers)
    provider_id = left.selectbox(
        "Provider",
        provider_ids,
        index=_index(provider_ids, provider),
        format_func=lambda p: providers[p].label,
        key=f"{key}-provider",
    )
    info = providers[provider_id]
    models = {m.id: m for m in info.models}
    model_id = middle.selectbox(
        "Model",
        list(models),
        index=_index(list(models), model),
        format_func=lambda m: models[m].label,
        key=f"{key}-model-{provider_id}",
    )
    chosen = models[model_id]
    account = account_voices.listing() if provider_id == Provider.ELEVENLABS else None
    own = account.by_id() if account else {}
    offered = [*(v for v in own if v not in chosen.voices), *chosen.voices]  # its own first, then the defaults
    if voice and voice not in offered and provider == provider_id:
        offered.append(voice)  # a copy of a row whose voice left the account: shown, and flagged below
    picked = right.selectbox(
        "Voice",
        offered,
        index=_index(offered, voice),
        format_func=lambda v: own[v].label if v in own else catalogue.voice_name(provider_id, v),
        key=f"{key}-voice-{model_id}",
    )
    if account is not None:
        _account_notes(key, account, own.get(str(picked)), str(picked))
    return info, chosen, str(picked)


def _account_notes(
    key: str, account: account_voices.Listing, picked: account_voices.AccountVoice | None, voice: str
) -> None:
    """Under an ElevenLabs voice: the account voice's description and preview, a voice that left
    the account, a listing that failed, and the refresh."""
    if picked is not None and picked.description:
        st.caption(md(picked.description))
    if picked is not None and picked.preview_url:
        st.audio(picked.preview_url)
    if account_voices.missing(Provider.ELEVENLABS, voice):
        st.warning(
            f"{md(voice)} is no longer in the ElevenLabs account: a narration in it would fail before any "
            "request. Pick another voice."
        )
    if account.problem:
        st.caption(md(f"The account's voices could not be read: {account.problem} Showing the last list."))
    if st.button("Refresh the account's voices", key=f"{key}-refresh-voices", icon=":material/refresh:"):
        account_voices.refresh()
        st.rerun()


def voice_choice(
    key: str,
    *,
    provider: str | None = None,
    model: str | None = None,
    voice: str | None = None,
    output_format: str | None = None,
    priority: int = 0,
    instructions: str | None = None,
    speed: float | None = None,
    mastering_profile: str | None = None,
) -> VoiceChoice:
    """Render the controls (keys prefixed with `key`) starting from the given values."""
    info, chosen, picked = voice_picker(key, provider=provider, model=model, voice=voice)
    provider_id = info.id.value
    tone = (
        st.text_input(
            "Tone instructions",
            value=instructions or "",
            placeholder="e.g. warm, unhurried, like a bedtime story",
            key=f"{key}-tone",
        )
        if chosen.takes_instructions
        else None
    )
    pace = st.slider("Speed", 0.25, 4.0, speed or 1.0, 0.05, key=f"{key}-speed") if provider_id == "openai" else None
    left, middle, right = st.columns(3)
    profiles = list(mastering.PROFILES)
    profile = mastering.PROFILES[
        str(
            left.selectbox(
                "Mastering",
                profiles,
                index=_index(profiles, mastering_profile or get_settings().mastering_profile),
                format_func=lambda p: mastering.PROFILES[p].label,
                help="How the passages are made into one narration: "
                + "; ".join(f"**{p.label}**: {', '.join(p.requirements)}" for p in mastering.PROFILES.values()),
                key=f"{key}-mastering",
            )
        )
    ]
    formats = list(catalogue.OUTPUT_FORMATS)
    if profile.output_format:  # ACX takes one format only
        fmt = profile.output_format
        middle.selectbox("Save as", [fmt], key=f"{key}-format-{profile.name}", disabled=True, help=profile.label)
    else:
        fmt = middle.selectbox("Save as", formats, index=_index(formats, output_format), key=f"{key}-format")
    level = right.select_slider(
        "Priority",
        options=sorted(labels.PRIORITIES),
        value=priority if priority in labels.PRIORITIES else (1 if priority > 0 else -1),  # Django may store 5
        format_func=labels.priority,
        key=f"{key}-priority",
    )
    return VoiceChoice(
        info=info,
        model=chosen,
        voice=str(picked),
        output_format=str(fmt),
        priority=int(level),
        instructions=tone or None,
        speed=pace if pace != 1.0 else None,
        mastering=profile.name,
        missing_key=catalogue.missing_key(info, get_settings()),
    )


def not_set_up(choice: VoiceChoice, user: SignedIn) -> str | None:
    """Why this provider cannot be used here, for the person at the desk: staff are told whom to ask;
    only a superuser, who can act on it, is told the setting's name and where it goes. None: usable."""
    if choice.missing_key is None:
        return None
    said = f"{choice.info.label} is not set up on this desk; ask an administrator."
    if user.is_superuser:
        said += (
            f" To set it up, set {choice.missing_key} in the environment of the dashboard and the workers, "
            "or in .streamlit/secrets.toml, then restart them."
        )
    return said


def submit_label(choice: VoiceChoice, ready: str) -> str:
    """The submit button's label: what it does, or, when it is disabled, why."""
    return f"Cannot submit: {choice.info.label} is not set up" if choice.missing_key else ready


def sample_player(choice: VoiceChoice, key: str) -> None:
    """A button that plays a few seconds of the chosen voice (made once, then kept)."""
    if st.button(
        "Hear this voice", key=f"{key}-sample", icon=":material/play_circle:", disabled=bool(choice.missing_key)
    ):
        try:
            st.audio(voice_sample(choice.info.id.value, choice.model.id, choice.voice), format="audio/wav")
        except NoSample as problem:
            st.warning(md(problem))
