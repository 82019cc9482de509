"""One place for every setting, read from the environment first, then `.streamlit/secrets.toml`.

Secrets (API keys, database passwords) live only here and are `SecretStr`, so they never show up
in a repr, a log line or an error message by accident.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from db.window import zone

SECRETS_FILE_ENV = "NARRATION_DESK_SECRETS_FILE"
"""Points at another secrets file (tests use it to keep a developer's real keys out of a run)."""


def secrets_file() -> Path:
    """The TOML file Streamlit users already keep their keys in."""
    return Path(os.environ.get(SECRETS_FILE_ENV, ".streamlit/secrets.toml"))


def sqlalchemy_url(url: str) -> str:
    """Accept the plain `postgresql://` URLs people copy around; SQLAlchemy needs the driver named."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Settings(BaseSettings):
    """Everything Narration Desk can be told. Field names are the environment variable names."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL. Unset: `narration-desk run` starts an embedded PostgreSQL under DATA_DIR.",
    )
    database_pool_size: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="PostgreSQL connections one process keeps open for reuse; unset: 5 for the dashboard "
        "and commands, 1 for a worker (db/engine.py says why).",
    )
    database_max_overflow: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Connections one process may open beyond DATABASE_POOL_SIZE while that many are in use, "
        "closed again when returned; unset: 5 for the dashboard and commands, 1 for a worker.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL. Unset: `narration-desk run` starts an embedded Redis under DATA_DIR.",
    )
    data_dir: Path = Field(
        default=Path("var"), description="Where the embedded servers keep their data (survives restarts)."
    )
    media_root: Path | None = Field(
        default=None,
        description="Django's MEDIA_ROOT: audio files are written under it. Unset: DATA_DIR/media.",
    )
    storage_url: str | None = Field(
        default=None,
        pattern=r"^(|file:|s3://[^/]+(/.*)?)$",
        description="Where audio, passage and sample files go: unset or `file:` for MEDIA_ROOT, or "
        "`s3://bucket/prefix` for S3-compatible storage (keys as django-storages' S3Storage with "
        "`AWS_LOCATION=prefix`); credentials, endpoint and region from the standard AWS_* variables.",
    )
    openai_api_key: SecretStr | None = Field(default=None, description="Enables the OpenAI voices.")
    openai_base_url: str | None = Field(default=None, description="Another OpenAI-compatible endpoint.")
    elevenlabs_api_key: SecretStr | None = Field(default=None, description="Enables the ElevenLabs voices.")
    elevenlabs_base_url: str | None = Field(default=None, description="Another ElevenLabs endpoint.")
    preview_max_bytes: int = Field(
        default=1_500_000,
        gt=1024,
        description="Largest audio kept inline as the base64 preview; longer audio keeps its opening only.",
    )
    storage_quota_bytes: int = Field(
        default=20 * 1024**3, gt=0, description="Most bytes of audio kept under MEDIA_ROOT (or in the bucket)."
    )
    reconcile_interval_seconds: int = Field(
        default=10,
        ge=1,
        le=300,
        description="How often a worker looks for queued rows that have no job in Redis (Django's, lost ones).",
    )
    job_timeout_seconds: int = Field(default=1800, ge=10, description="Longest one synthesis job may run.")
    provider_timeout_seconds: float = Field(default=60.0, gt=0, description="Longest one provider request may take.")
    openai_concurrency: int = Field(
        default=4, ge=1, description="OpenAI requests one worker sends at once, across all the jobs it holds."
    )
    elevenlabs_concurrency: int = Field(
        default=3, ge=1, description="ElevenLabs requests one worker sends at once (your plan's concurrency)."
    )
    elevenlabs_account_concurrency: int | None = Field(
        default=None, ge=1, description="ElevenLabs requests all workers together send at once; unset: per worker only."
    )
    local_concurrency: int = Field(
        default=1,
        ge=1,
        description="Piper chunks one worker synthesizes at once (ONNX Runtime already uses every core).",
    )
    worker_jobs: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Jobs one worker holds at once; unset: the three concurrencies above added up.",
    )
    local_voice_preload: bool = Field(
        default=False,
        description="Load the local voice when a worker starts (machines that serve it); else on its first local job.",
    )
    chunk_tries: int = Field(
        default=4, ge=1, description="Tries per chunk for timeouts, 5xx and 429 before the job is retried later."
    )
    chunk_retry_seconds: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="First wait before a chunk or a listen-back upload is tried again; doubles each try, "
        "with jitter, up to 30 s.",
    )
    cancel_check_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often a running job reads its row again, so a cancel or a takeover stops it this soon.",
    )
    retry_base_seconds: float = Field(
        default=30.0, gt=0, description="First wait before a failed job runs again; doubles each attempt, with jitter."
    )
    worker_dead_after_seconds: int = Field(
        default=30,
        ge=5,
        description=(
            "A worker whose heartbeat is this far behind the others' is taken as dead (one whose process "
            "ended is noticed sooner, through its lease)."
        ),
    )
    worker_start_grace_seconds: int = Field(
        default=90,
        ge=0,
        description="After a dashboard or worker starts, 'no worker' waits this long for a first heartbeat.",
    )
    failed_retention_days: int = Field(
        default=30, ge=1, description="Failed jobs' audio and chunks are deleted after this many days (rows stay)."
    )
    event_retention_days: int = Field(
        default=400,
        ge=1,
        description=(
            "Each narration's history (tts_event: submitted, claimed, failed, reviewed…) is kept this many "
            "days; maintenance deletes older events. The default keeps a year and a month to compare with."
        ),
    )
    mastering_profile: Literal["standard", "acx", "podcast", "raw"] = Field(
        default="standard",
        description="How narrations are mastered unless compose picks another profile (workers/engine/mastering.py).",
    )
    pause_paragraph_seconds: float = Field(
        default=0.9, ge=0, le=5, description="Mastered narrations: the pause between passages a paragraph break ends."
    )
    pause_sentence_seconds: float = Field(
        default=0.5, ge=0, le=5, description="...between passages a sentence ends inside a paragraph."
    )
    pause_clause_seconds: float = Field(
        default=0.15, ge=0, le=5, description="...between passages cut inside a sentence (one longer than a passage)."
    )
    listen_back_model: Literal["gpt-4o-mini-transcribe", "gpt-4o-transcribe", "whisper-1"] = Field(
        default="gpt-4o-mini-transcribe",
        description="OpenAI transcription model the listen-back check hears each passage with (needs OPENAI_API_KEY).",
    )
    listen_back_max_wer: float = Field(
        default=0.15,
        gt=0,
        le=1,
        description="Listen-back flags a passage when more than this share of its words differ.",
    )
    dashboard_port: int = Field(default=8501, description="Port of the dashboard that `narration-desk run` starts.")
    metrics_address: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Address the Prometheus endpoints bind to (0.0.0.0: every interface).",
    )
    worker_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Each worker's Prometheus endpoint: the first free port from this one up; unset: none.",
    )
    dashboard_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The dashboard's Prometheus endpoint (queues, workers): the first free port from this one up; "
        "unset: none.",
    )
    session_hours: float = Field(
        default=12, gt=0, description="A password sign-in holds this long in that browser (reloads and new tabs too)."
    )
    display_time_zone: str | None = Field(
        default=None,
        description="IANA time zone every page shows times in (operations' days begin at midnight there); "
        "unset: each browser's own zone (UTC where there is none, e.g. for the monthly budget).",
    )
    alert_failure_rate: float = Field(
        default=0.25, gt=0, le=1, description="Alert when this share of one provider's recent jobs failed."
    )
    alert_failure_min_jobs: int = Field(
        default=5, ge=1, description="...counting only providers that finished at least this many jobs meanwhile."
    )
    alert_failure_minutes: int = Field(default=15, ge=1, description="How far back 'recent' reaches for that rate.")
    alert_queue_age_seconds: int = Field(
        default=600, ge=1, description="Alert when a due job has waited this long for a worker."
    )
    alert_storage_fraction: float = Field(
        default=0.9, gt=0, le=1, description="Alert when audio under MEDIA_ROOT passes this share of the quota."
    )
    monthly_budget_usd: float | None = Field(
        default=None, gt=0, description="What paid voices may cost in a calendar month (estimated); unset: no budget."
    )
    alert_budget_fraction: float = Field(
        default=0.9, gt=0, le=1, description="Alert when the month's estimated cost passes this share of the budget."
    )
    alert_webhook_url: SecretStr | None = Field(
        default=None, description="Alerts are also POSTed here as JSON (Slack-style `text`); may hold a token."
    )
    alert_repeat_seconds: int = Field(
        default=3600, ge=60, description="The same alert is posted to the webhook at most once in this long."
    )
    viewer_group: str = Field(
        default="narration-viewers",
        min_length=1,
        max_length=150,
        description="Django group whose active members may sign in read-only (besides staff); `db upgrade` creates it.",
    )
    sso_allowed_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated e-mail domains single sign-on accepts; empty: any verified address.",
    )
    sso_issuer: str | None = Field(
        default=None, description="The only OIDC issuer (`iss`) single sign-on accepts; unset: any."
    )
    sign_in_first_wait_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Wait after the free failed sign-ins run out; each further failure doubles it (capped).",
    )
    cookie_secure: bool | None = Field(
        default=None,
        description="Session cookie only over https (`Secure`, `__Host-` name); unset: when the page is https.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated proxy addresses or networks whose X-Forwarded-For names the client.",
    )
    images_folder: str = Field(
        default="images",
        min_length=1,
        description="Folder under MEDIA_ROOT that scene images' files must be in (Django's `upload_to`).",
    )
    max_queued_per_user: int = Field(
        default=500, ge=1, description="Most narrations one person may have queued or running at once."
    )
    max_bulk_rows: int = Field(
        default=1000, ge=1, description="Most rows one bulk action (narrate all scenes, retry or cancel all) touches."
    )
    refuse_over_budget: bool = Field(
        default=False, description="Refuse paid submissions once MONTHLY_BUDGET_USD is reached (not only warn)."
    )

    @field_validator("sso_allowed_domains", "trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """Lists are written as `a,b` in the environment and secrets file alike (a TOML list works too)."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _use_psycopg3(cls, url: str | None) -> str | None:
        return sqlalchemy_url(url) if url else None

    @field_validator("display_time_zone")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        if name is not None:
            zone(name)
        return name

    @property
    def media_path(self) -> Path:
        """The media root in force, made absolute so workers and the page agree on it."""
        return (self.media_root or self.data_dir / "media").resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment wins over the secrets file, so a deployment can override any key."""
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=secrets_file()),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once; tests clear the cache after changing the environment."""
    return Settings()
