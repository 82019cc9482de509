"""How values read on every page: priorities as words, lengths as m:ss, times in one zone, names as
compose shows them, and a narration's state (a cancel is not a failure).

Pure functions of their arguments (plus `display_zone`, which asks the browser), so tests call them
directly and every page says the same thing the same way.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import streamlit as st

from db.models import CANCELLED
from db.quality import Quality
from db.reviews import ReviewFilter
from db.settings import get_settings
from db.window import zone
from workers.engine import account_voices, catalogue, mastering

PRIORITIES = {1: "high", 0: "normal", -1: "low"}
"""Django stores priority as a number; people pick and read it as a word."""

BADGES = {
    "queued": ":gray-badge[:material/schedule: queued]",
    "processing": ":blue-badge[:material/progress_activity: processing]",
    "completed": ":green-badge[:material/check_circle: completed]",
    "failed": ":red-badge[:material/error: failed]",
    CANCELLED: ":orange-badge[:material/block: cancelled]",
}


def state(status: str, cancelled_at: datetime | None) -> str:
    """What a person calls the row's state: Django's status, except that a cancel reads `cancelled`."""
    return CANCELLED if status == "failed" and cancelled_at is not None else status


def passages(numbers: tuple[int, ...]) -> str:
    """The start of a sentence naming the passages a redo takes: "Passage 2 is", "Passages 2, 4 are"."""
    which = ", ".join(map(str, numbers))
    return f"Passages {which} are" if len(numbers) > 1 else f"Passage {which} is"


def priority(value: int) -> str:
    """high / normal / low; a number the Django side wrote outside those reads as itself."""
    if value in PRIORITIES:
        return PRIORITIES[value]
    return f"high ({value})" if value > 0 else f"low ({value})"


def seconds_of(clock: str) -> float | None:
    """A moment typed as a clock reads (`1:23`, `1:02:05`) or in seconds (`83`, `83.5`); None when
    it reads as neither. The inverse of `length`, for a reviewer's comment."""
    parts = clock.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(p.replace(".", "", 1).isdigit() for p in parts):
        return None
    total = 0.0
    for part in parts:
        total = total * 60 + float(part)
    return total


def length(seconds: float | None) -> str:
    """A duration as a clock reads it: 0:07, 49:48, 1:02:05; "—" when unknown."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def percent(share: float) -> str:
    """0.042 → "4.2 %"; whole numbers stay short ("0 %", "100 %")."""
    value = share * 100
    return f"{value:.0f} %" if value == round(value) else f"{value:.1f} %"


TIME_ZONES: list[str] = sorted(available_timezones())
"""The zones a page offers, listed once: `available_timezones` walks the time-zone database on disk
(600 files) on every call, which a page run under load should not."""


def display_zone() -> ZoneInfo:
    """The one time zone every page shows times in: DISPLAY_TIME_ZONE when set, else the browser's,
    else UTC (no browser, or one that sent a zone Python does not know)."""
    name = get_settings().display_time_zone or st.context.timezone or "UTC"
    try:
        return zone(name)
    except ValueError:
        return ZoneInfo("UTC")


def when(moment: datetime | None, where: ZoneInfo) -> str:
    """A timestamp in `where`, to the minute, with the zone's abbreviation: "2026-12-02 14:05 CET"."""
    if moment is None:
        return "—"
    local = moment.astimezone(where)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def provider(provider_id: str) -> str:
    """The provider's name as compose lists it; an id the catalogue does not know reads as itself."""
    info = catalogue.provider(provider_id)
    return info.label if info else provider_id


def model(provider_id: str, model_id: str | None) -> str:
    """The model's name as compose lists it ("Flash v2", not `eleven_flash_v2`)."""
    if not model_id:
        return "default model"
    found = catalogue.model(provider_id, model_id)
    return found.label if found else model_id


def voice(provider_id: str, voice_id: str | None) -> str:
    """The voice's name as compose lists it (ElevenLabs voices by name, not by id: the catalogue's,
    else the account's own); one that left the account says so."""
    if not voice_id:
        return "default voice"
    if account_voices.missing(provider_id, voice_id):
        return f"{voice_id} (not in the account)"
    catalogued = provider_id != "elevenlabs" or voice_id in catalogue.ELEVEN_VOICES
    own = None if catalogued else account_voices.named(voice_id)
    return own.name if own is not None else catalogue.voice_name(provider_id, voice_id)


def mastered(metadata: dict[str, Any], asked: str | None) -> str:
    """How the narration was mastered, from its metadata (JSON from the database: read defensively);
    before it is done, the profile it will get; a narration made before mastering existed says so."""
    done = metadata.get("mastering")
    if isinstance(done, dict) and done.get("profile") in mastering.PROFILES:
        said = mastering.PROFILES[done["profile"]].label
        limited = done.get("limiter_max_reduction_db")
        if isinstance(limited, int | float) and not isinstance(limited, bool) and limited > 0.05:
            said += f" · limiter {limited:.1f} dB"
        return said
    if metadata.get("format"):  # finished, with no record of mastering
        return "not mastered (made before mastering existed)"
    profile = mastering.PROFILES.get(asked or get_settings().mastering_profile)
    return f"{profile.label} (when it is narrated)" if profile else "—"


def download_name(subject: str, kind: str, row_id: int, fmt: str) -> str:
    """A file name people recognise in their downloads folder: "the-fox-and-the-crow-story-12.mp3"."""
    ascii_only = unicodedata.normalize("NFKD", subject).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_only.lower()).strip("-")[:60].rstrip("-")
    return f"{slug + '-' if slug else ''}{kind}-{row_id}.{fmt}"


QUALITY_FILTER = {
    None: "any quality",
    Quality.PASSES: "passes",
    Quality.FAILS: "fails",
    Quality.FLAGGED: "has flagged passages",
    Quality.UNMEASURED: "not measured",
}
"""The library's "Quality" filter as people read it; the URL carries these words (`?quality=fails`)."""

REVIEW_FILTER = {
    None: "any review",
    ReviewFilter.NEEDS_APPROVAL: "needs approval",
    ReviewFilter.APPROVED: "approved",
    ReviewFilter.CHANGES_REQUESTED: "changes requested",
    ReviewFilter.CHANGED_SINCE: "changed since its review",
    ReviewFilter.NOT_REVIEWED: "not reviewed",
}
"""The library's "Review" filter as people read it (`?review=needs+approval`)."""

REVIEWED = {
    "approved": "approved",
    "changes_requested": "changes asked",
    "changed_since_review": "changed",
    "awaiting_approval": "needs approval",
}
"""What the library's status cell says of a completed narration's review: short, to fit the cell."""


def state_reviewed(status: str, cancelled_at: datetime | None, review: str | None) -> str:
    """The library's status cell: the state, or for a completed narration with a review (or one its
    project requires), where that review stands."""
    shown = state(status, cancelled_at)
    return REVIEWED.get(review or "", shown) if shown == "completed" else shown


def quality(status: str, passed: bool | None, failing: tuple[str, ...], flagged: int) -> str:
    """A narration's QC badge in the library: "✓ passes", "✗ true peak" (fails that check), "2 flagged",
    "✗ true peak · 1 flagged", or "—" when it has no checks to show (not completed, or finished before
    the checks existed). Short, to fit its column beside the rest at 1280 px."""
    if status != "completed" or passed is None:
        return "—"
    marks = [] if passed else [f"✗ {', '.join(failing) or 'fails'}"]
    if flagged:
        marks.append(f"{flagged} flagged")
    return " · ".join(marks) or "✓ passes"
