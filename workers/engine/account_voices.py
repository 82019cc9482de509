"""The ElevenLabs account's own voices (cloned, designed, library and premade), listed through the
official SDK's voices API and kept in Redis, so every dashboard and worker shares one listing.

Compose offers them beside the catalogue's defaults, by name, with their labels and preview. A
voice that is neither in the catalogue nor in the account any more is flagged in compose and on the
rows that name it, and a worker refuses it before any paid request (`workers/engine/validation.py`).
The listing is free; it is read again when it is older than MAX_AGE, or when someone asks
("Refresh the account's voices"). Without an ElevenLabs key there is no account: the catalogue's
voices only.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from elevenlabs import ElevenLabs
from elevenlabs.core.api_error import ApiError
from httpx import HTTPError
from redis.exceptions import RedisError

from db.models import Provider
from db.settings import Settings, get_settings
from workers.engine import catalogue
from workers.engine.providers.base import scrub
from workers.redis_connection import redis

log = logging.getLogger(__name__)

KEY = "nd:elevenlabs:voices"
MAX_AGE = timedelta(minutes=15)
"""A listing older than this is read again before it is used (a voice deleted in the account's own
studio is found out within this long, or at once with a refresh)."""
MEMO_SECONDS = 10.0
"""How long one process reuses the listing it read from Redis: the library names the voice of each
of its rows, and one read serves them all."""


@dataclass(frozen=True)
class AccountVoice:
    voice_id: str
    name: str
    category: str
    """cloned, generated (designed), professional, premade…, as ElevenLabs says."""
    labels: dict[str, str] = field(default_factory=dict)
    preview_url: str | None = None
    description: str | None = None

    @property
    def label(self) -> str:
        """ "Aoife (cloned) · cloned · irish, female": how compose lists it."""
        said = [self.name, self.category, ", ".join(self.labels.values())]
        return " · ".join(part for part in said if part)


@dataclass(frozen=True)
class Listing:
    voices: tuple[AccountVoice, ...]
    fetched_at: datetime
    problem: str | None = None
    """Why the last read failed (the listing is then the one before, or empty); None when it worked."""

    def by_id(self) -> dict[str, AccountVoice]:
        return {v.voice_id: v for v in self.voices}


class Unavailable(RuntimeError):
    """The voices API could not be read; the message says why, without the key."""


def _fetch(settings: Settings) -> tuple[AccountVoice, ...]:
    key = settings.elevenlabs_api_key.get_secret_value() if settings.elevenlabs_api_key else ""
    client = ElevenLabs(api_key=key, base_url=settings.elevenlabs_base_url, timeout=5.0)  # a page waits on it
    try:
        found = client.voices.get_all().voices
    except ApiError as error:
        raise Unavailable(scrub(f"ElevenLabs did not list the account's voices ({error.status_code}).", key)) from None
    except HTTPError as error:
        raise Unavailable(scrub(f"ElevenLabs could not be reached to list the voices ({error}).", key)) from None
    return tuple(
        AccountVoice(
            voice_id=v.voice_id,
            name=v.name or v.voice_id,
            category=str(v.category or ""),
            labels=dict(v.labels or {}),
            preview_url=v.preview_url,
            description=v.description,
        )
        for v in found
    )


def _store(listing: Listing) -> None:
    payload = {
        "voices": [asdict(v) for v in listing.voices],
        "fetched_at": listing.fetched_at.isoformat(),
        "problem": listing.problem,
    }
    try:
        redis().set(KEY, json.dumps(payload))
    except RedisError as error:
        log.warning("could not keep the account's voices in Redis: %s", error)
    _memo.clear()


def _stored() -> Listing | None:
    try:
        raw = redis().get(KEY)
    except RedisError:
        return None
    if not raw:
        return None
    payload = json.loads(raw)
    voices = tuple(AccountVoice(**v) for v in payload["voices"])
    return Listing(voices, datetime.fromisoformat(payload["fetched_at"]), payload.get("problem"))


def has_account(settings: Settings | None = None) -> bool:
    chosen = settings or get_settings()
    return bool(chosen.elevenlabs_api_key and chosen.elevenlabs_api_key.get_secret_value())


def refresh(settings: Settings | None = None) -> Listing:
    """Read the account's voices now and keep them; on failure keep the last listing, saying why."""
    chosen = settings or get_settings()
    try:
        listing = Listing(_fetch(chosen), datetime.now(UTC))
    except Unavailable as problem:
        before = _stored()
        listing = Listing(before.voices if before else (), datetime.now(UTC), str(problem))
    _store(listing)
    return listing


_memo: dict[str, tuple[float, Listing]] = {}


def listing(settings: Settings | None = None) -> Listing | None:
    """The account's voices (read again when older than MAX_AGE); None without an ElevenLabs key."""
    if not has_account(settings):
        return None
    memo = _memo.get(KEY)
    if memo is not None and time.monotonic() - memo[0] < MEMO_SECONDS:
        return memo[1]
    found = _stored()
    if found is None or datetime.now(UTC) - found.fetched_at > MAX_AGE:
        found = refresh(settings)
    _memo[KEY] = (time.monotonic(), found)
    return found


def named(voice_id: str, settings: Settings | None = None) -> AccountVoice | None:
    """The account's voice of that id, if the account has it."""
    found = listing(settings)
    return found.by_id().get(voice_id) if found else None


def missing(provider: str, voice_id: str | None, settings: Settings | None = None) -> bool:
    """Whether the voice is an ElevenLabs voice that neither the catalogue nor the account has: it
    was deleted from the account (or never was in it). False when the account cannot be read: a
    listing that failed says nothing about a voice."""
    if provider != Provider.ELEVENLABS or not voice_id or voice_id in catalogue.ELEVEN_VOICES:
        return False
    found = listing(settings)
    return found is not None and found.problem is None and voice_id not in found.by_id()
