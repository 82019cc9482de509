"""Requests in flight to one provider account, counted across every worker that shares the Redis.

ElevenLabs limits how many requests an account has in flight (the plan's concurrency). Each job
sends up to ELEVENLABS_CONCURRENCY chunks at once, so four workers could send four times the plan's
limit; the surplus is answered 429 `too_many_concurrent_requests` and waited out (`Busy`), which is
correct but slow and noisy. With ELEVENLABS_ACCOUNT_CONCURRENCY set, a request first takes one of
that many slots here, and waits for one otherwise.

A slot is a lease (a member of a Redis sorted set scored by its expiry, on Redis's clock so machines'
clocks do not matter): a worker killed mid-request frees its slot when the lease runs out. If Redis
does not answer, requests go ahead without the shared count; the provider's own 429 still guards.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
"""How often a request waiting for a slot looks again."""

# Atomically: drop expired leases; take a slot if fewer than ARGV[1] are held. Redis's TIME is the
# clock, so leases from machines with skewed clocks still compare.
_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
  return 1
end
return 0
"""


class AccountSlots:
    """At most `limit` requests at once to `provider`, across every worker on this Redis."""

    def __init__(self, connection: Redis, provider: str, limit: int, *, lease_seconds: float) -> None:
        self.connection = connection
        self.key = f"nd:slots:{provider}"
        self.limit = limit
        self.lease_seconds = lease_seconds
        self._take = connection.register_script(_TAKE)

    def try_take(self, holder: str) -> bool:
        """Take a slot for `holder` now, if one is free."""
        return bool(self._take(keys=[self.key], args=[self.limit, self.lease_seconds, holder]))

    def give_back(self, holder: str) -> None:
        self.connection.zrem(self.key, holder)

    @contextmanager
    def held(self, wait: Callable[[float], None]) -> Iterator[None]:
        """Hold a slot for the duration of one request; `wait(seconds)` is called between looks (and
        may raise to stop waiting, e.g. when the job is cancelled)."""
        holder = uuid.uuid4().hex
        try:
            while not self.try_take(holder):
                wait(POLL_SECONDS)
        except RedisError as error:
            log.warning("provider slots unavailable (%s); sending without the shared limit", type(error).__name__)
            yield
            return
        try:
            yield
        finally:
            with contextlib.suppress(RedisError):  # else the lease runs out by itself
                self.give_back(holder)
