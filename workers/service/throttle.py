"""Sign-in throttling: every attempt is booked before its password is checked, with back-off.

Why this shape:

- **Booked first, atomically.** A counter written after each check lets twenty parallel guesses
  all read "no failures yet" and all be checked. So an attempt is booked as a failure (one Redis
  transaction over both counters) before the password is looked at; a success then forgives the
  username's and the client's failures.
- **Back-off, not a lock.** The first failures are free (typos); after that each further failure
  doubles the wait before the next attempt is even checked (5 s, 10 s, 20 s ...:
  SIGN_IN_FIRST_WAIT_SECONDS). Attempts made while
  waiting are refused without being counted: counting them would let anyone stretch the wait.
- **Two caps.** Anyone can fail for `admin`, so a username's wait stops at one minute: a stranger
  can delay the real admin by a minute at most, and still gets only about one guess a minute at
  that account. A client address's wait goes up to 15 minutes: it is the guesser's own address
  (IPv6 counted per /64, which one subscriber usually holds), so a long wait holds back a guesser
  spraying many usernames and hurts no one else.
- **Forgotten when quiet.** The counts vanish `FORGET_AFTER` seconds after the last wait ends.
- **Client addresses** come from the connection, or from `X-Forwarded-For` only as far as
  `TRUSTED_PROXIES` vouch for it (`client_address`): anyone can write that header.
- **Without Redis** (not configured or down) the same rules run in this process's memory, so an
  outage weakens the throttle to one process instead of switching it off; a warning is logged once
  per outage.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from redis.exceptions import RedisError, WatchError

from db.settings import get_settings
from workers.redis_connection import RedisNotConfigured, redis

log = logging.getLogger(__name__)

FORGET_AFTER = 15 * 60
"""Seconds after the last wait ends when a key's failures are forgotten."""
LONGEST_USERNAME = 150
"""Django's limit: longer names cannot exist, and a key is not stretched by a megabyte of input."""

T = TypeVar("T")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class BackOff:
    """How many failures are free, and the longest wait (seconds) they can add up to."""

    free: int
    cap: float

    def wait_after(self, failures: int, first: float) -> float:
        """The wait after `failures`: none while free, then `first` (SIGN_IN_FIRST_WAIT_SECONDS)
        doubled for each further failure, up to the cap."""
        if failures < self.free:
            return 0.0
        return min(self.cap, math.ldexp(first, min(failures - self.free, 32)))  # first * 2**n


PER_USERNAME = BackOff(free=5, cap=60)
PER_CLIENT = BackOff(free=20, cap=15 * 60)


@dataclass(frozen=True)
class Count:
    """One key's booked failures, and the time (epoch seconds) before which no attempt is checked."""

    failures: int = 0
    not_before: float = 0.0


def _book(counts: list[Count], limits: tuple[BackOff, ...], now: float) -> tuple[float, list[Count]]:
    """The rule, for both stores: the seconds still to wait (nothing booked), or 0 and the counts
    with this attempt booked as a failure."""
    wait = max(count.not_before - now for count in counts)
    if wait > 0:
        return wait, counts
    booked = [count.failures + 1 for count in counts]
    first = get_settings().sign_in_first_wait_seconds
    return 0.0, [Count(n, now + limit.wait_after(n, first)) for n, limit in zip(booked, limits, strict=True)]


def _keys(username: str, client: str) -> tuple[str, str]:
    name = username.strip().lower()[:LONGEST_USERNAME]
    return f"nd:signin:user:{name}", f"nd:signin:client:{client}"


class _InProcess:
    """The same rule in this process's memory, for when Redis cannot be reached."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Count] = {}

    def book(self, keys: tuple[str, ...], limits: tuple[BackOff, ...]) -> float:
        with self._lock:
            now = time.time()  # read under the lock, so bookings and their clock go in one order
            if len(self._counts) > 10_000:  # a spray of usernames must not grow memory for ever
                self._counts = {k: c for k, c in self._counts.items() if c.not_before + FORGET_AFTER > now}
            counts = [self._current(key, now) for key in keys]
            wait, booked = _book(counts, limits, now)
            self._counts.update(zip(keys, booked, strict=True))
            return wait

    def _current(self, key: str, now: float) -> Count:
        count = self._counts.get(key, Count())
        return count if count.not_before + FORGET_AFTER > now else Count()

    def forgive(self, keys: tuple[str, ...]) -> None:
        with self._lock:
            for key in keys:
                self._counts.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


_in_process = _InProcess()
_outage = threading.Event()


def _redis_book(keys: tuple[str, ...], limits: tuple[BackOff, ...]) -> float:
    with redis().pipeline() as pipe:
        while True:
            try:
                # If another attempt books first, EXEC fails and ours is read again.
                pipe.watch(*keys)  # type: ignore[no-untyped-call]
                seconds, microseconds = pipe.time()  # Redis's clock: every dashboard reads the same one
                now = seconds + microseconds / 1e6
                counts = []
                for key in keys:
                    failures, not_before = pipe.hmget(key, ["failures", "not_before"])
                    counts.append(Count(int(failures or 0), float(not_before or 0)))
                wait, booked = _book(counts, limits, now)
                pipe.multi()
                if not wait:
                    for key, count in zip(keys, booked, strict=True):
                        pipe.hset(key, mapping={"failures": count.failures, "not_before": count.not_before})
                        pipe.pexpire(key, int((count.not_before - now + FORGET_AFTER) * 1000))
                pipe.execute()
                return wait
            except WatchError:
                continue


def _with_fallback(in_redis: Callable[[], T], in_process: Callable[[], T]) -> T:
    try:
        result = in_redis()
    except (RedisError, RedisNotConfigured) as error:
        if not _outage.is_set():
            _outage.set()
            log.warning("sign-in throttle: Redis unavailable (%s); counting attempts in this process only", error)
        return in_process()
    _outage.clear()
    return result


def book_attempt(username: str, client: str) -> float:
    """Book this attempt before its password is checked: 0 when it may be checked (it counts as a
    failure until `forgive`), else the seconds still to wait (nothing booked)."""
    keys, limits = _keys(username, client), (PER_USERNAME, PER_CLIENT)
    return _with_fallback(lambda: _redis_book(keys, limits), lambda: _in_process.book(keys, limits))


def forgive(username: str, client: str) -> None:
    """A success: the username's and the client's failures are forgotten."""
    keys = _keys(username, client)
    _with_fallback(lambda: redis().delete(*keys), lambda: _in_process.forgive(keys))


def forget_in_process() -> None:
    """Forget the counts kept in memory (tests start each from none, as a new process would)."""
    _in_process.clear()


@lru_cache(maxsize=4)
def _trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            log.warning("TRUSTED_PROXIES: %r is not an address or network; it is ignored", entry)
    return tuple(networks)


def _address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address


def client_address(peer: str | None, forwarded_for: str | None) -> str:
    """Whom to throttle: the connection's address, or, when that is a trusted proxy, the nearest
    address in `X-Forwarded-For` that is not one (read right to left: each proxy appends the address
    it saw, and only what trusted proxies appended can be believed). IPv6 is counted per /64.

    `peer` None is how Streamlit reports a connection from this machine (a proxy beside us)."""
    networks = _trusted_networks(tuple(get_settings().trusted_proxies))
    current = _address(peer or "127.0.0.1")
    if current is None:
        return peer or "unknown"
    hops = [hop for hop in (forwarded_for or "").split(",") if hop.strip()]
    while hops and any(current in network for network in networks):
        hop = _address(hops.pop())
        if hop is None:  # a trusted proxy passed on something else: throttle by that proxy
            break
        current = hop
    if isinstance(current, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network(f"{current}/64", strict=False))
    return str(current)
