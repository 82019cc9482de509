"""The time range a monitoring view covers, and the buckets its charts are cut into.

Buckets are computed in SQL. Shorter than six hours, they are fixed-length intervals
(`date_bin`) aligned on the display zone's midnight, so a DST change relabels them but never
stretches one. From six hours up they follow the display zone's wall clock, so a "day" is a
calendar day there even when it has 23 or 25 hours. In UTC both rules give the same edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, DateTime, func, literal

WALL_CLOCK_FROM = timedelta(hours=6)
"""Buckets this long or longer follow the display zone's wall clock (see the module docstring)."""

ORIGIN = datetime(2000, 1, 3)
"""A Monday at midnight: weekly buckets start on Mondays; shorter ones are unaffected."""

# (longest span, bucket): the first span that fits picks the bucket, ~24 to ~100 bars a chart.
_BUCKETS = (
    (timedelta(hours=2), timedelta(minutes=1)),
    (timedelta(hours=8), timedelta(minutes=5)),
    (timedelta(days=3), timedelta(hours=1)),
    (timedelta(days=14), timedelta(hours=6)),
    (timedelta(days=120), timedelta(days=1)),
)
_LONGEST_BUCKET = timedelta(days=7)
_AT = DateTime(timezone=True)


def bucket_for(span: timedelta) -> timedelta:
    """The bucket that cuts a range of this length into a readable number of bars."""
    return next((bucket for longest, bucket in _BUCKETS if span <= longest), _LONGEST_BUCKET)


def zone(name: str) -> ZoneInfo:
    """The IANA zone, or a sentence saying the name is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a time zone name; use one like 'UTC' or 'Europe/Paris'.") from None


@dataclass(frozen=True)
class Window:
    """[start, end) in absolute time, the bucket length, and the zone whose clock labels buckets."""

    start: datetime
    end: datetime
    bucket: timedelta
    tz: str = "UTC"

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("A window needs time-zone-aware start and end times.")
        if self.end <= self.start:
            raise ValueError("A window must end after it starts.")
        zone(self.tz)

    @classmethod
    def fitting(cls, start: datetime, end: datetime, tz: str = "UTC") -> Window:
        """A window over [start, end) with the bucket chosen for its length."""
        return cls(start, end, bucket_for(end - start), tz)

    @classmethod
    def last(cls, span: timedelta, *, now: datetime, tz: str = "UTC") -> Window:
        """The span up to `now` (the page's "last hour", "last 24 hours", ...)."""
        return cls.fitting(now - span, now, tz)

    @classmethod
    def calendar_days(cls, first: date, last: date, tz: str) -> Window:
        """From midnight starting `first` to midnight ending `last` on the zone's clock: what a
        person means by "between these days" (the library's and the operations page's pickers)."""
        local = zone(tz)
        start = datetime.combine(first, time.min, tzinfo=local)
        end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=local)
        return cls.fitting(start.astimezone(UTC), end.astimezone(UTC), tz)

    @classmethod
    def month_to_date(cls, *, now: datetime, tz: str = "UTC") -> Window:
        """From the first of this month, midnight on the display zone's clock, until now."""
        local = now.astimezone(zone(tz))
        first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return cls(first, now, timedelta(days=1), tz)

    def contains(self, column: Any) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        """The range condition on a timestamp column (an index on it serves both ends)."""
        return column >= self.start, column < self.end

    def bucket_of(self, column: Any) -> ColumnElement[datetime]:
        """The start of the bucket a timestamp falls in, as an absolute time."""
        if self.bucket < WALL_CLOCK_FROM:
            origin = ORIGIN.replace(tzinfo=zone(self.tz))
            return func.date_bin(literal(self.bucket), column, literal(origin), type_=_AT)
        on_clock = func.timezone(self.tz, column)
        return func.timezone(self.tz, func.date_bin(literal(self.bucket), on_clock, literal(ORIGIN)), type_=_AT)

    def day_of(self, column: Any) -> ColumnElement[datetime]:
        """Midnight (display zone) of the calendar day a timestamp falls on, as an absolute time."""
        return func.date_trunc("day", column, self.tz, type_=_AT)
