"""One provider object per process and provider name, built from settings on first use."""

from __future__ import annotations

from functools import cache

from db.settings import get_settings
from workers.engine.gates import ProviderGate
from workers.engine.providers.base import Permanent, Provider
from workers.engine.slots import AccountSlots
from workers.redis_connection import redis


@cache
def get(name: str) -> Provider:
    """The provider called `name`; Permanent if it is unknown or its key is not set.

    SDK clients are imported here, on first use, so a worker that only ever runs the local voice
    (and the dashboard) never pays for importing them.
    """
    settings = get_settings()
    timeout = settings.provider_timeout_seconds
    if name == "local":
        from workers.engine.providers.local import LocalProvider

        return LocalProvider()
    if name == "openai":
        if settings.openai_api_key is None:
            raise Permanent(
                "OpenAI needs an API key: set OPENAI_API_KEY for the workers, then retry.", reason="not_configured"
            )
        from workers.engine.providers.openai_tts import OpenAIProvider

        return OpenAIProvider(
            api_key=settings.openai_api_key.get_secret_value(), base_url=settings.openai_base_url, timeout=timeout
        )
    if name == "elevenlabs":
        if settings.elevenlabs_api_key is None:
            raise Permanent(
                "ElevenLabs needs an API key: set ELEVENLABS_API_KEY for the workers, then retry.",
                reason="not_configured",
            )
        from workers.engine.providers.elevenlabs_tts import ElevenLabsProvider

        return ElevenLabsProvider(
            api_key=settings.elevenlabs_api_key.get_secret_value(),
            base_url=settings.elevenlabs_base_url,
            timeout=timeout,
        )
    raise Permanent(f"Unknown provider {name!r}. Re-narrate with one of: local, openai, elevenlabs.", reason="invalid")


def concurrency(name: str) -> int:
    """Requests this worker process sends to the provider at once, across every job it holds
    (one long job may use them all)."""
    settings = get_settings()
    return {
        "openai": settings.openai_concurrency,
        "elevenlabs": settings.elevenlabs_concurrency,
    }.get(name, settings.local_concurrency)


def gate(name: str) -> ProviderGate:
    """This process's gate for the provider: one per process (and limit), shared by every job it runs."""
    return _gate(name, concurrency(name))


@cache
def _gate(name: str, limit: int) -> ProviderGate:
    return ProviderGate(limit)


def jobs_held() -> int:
    """How many jobs a worker holds at once: WORKER_JOBS, or enough to fill every provider's places."""
    settings = get_settings()
    return settings.worker_jobs or sum(concurrency(name) for name in ("openai", "elevenlabs", "local"))


def account_slots(name: str) -> AccountSlots | None:
    """The shared limit on requests in flight to this provider's account, if one is set."""
    settings = get_settings()
    limit = settings.elevenlabs_account_concurrency if name == "elevenlabs" else None
    if limit is None:
        return None
    # A request lasts at most about its timeout; a lease twice as long outlives it, and frees the
    # slot of a worker killed mid-request soon enough.
    return AccountSlots(redis(), name, limit, lease_seconds=2 * settings.provider_timeout_seconds + 10)
