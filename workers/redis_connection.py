"""The one Redis connection of a process, shared by the queues, sessions, throttling and alerts.

Made on first use, so a process that never needs Redis never asks for REDIS_URL, and forgotten
with `reset_redis` when REDIS_URL changes (tests, and `narration-desk run` after starting its
embedded Redis).
"""

from __future__ import annotations

from functools import lru_cache

from redis import Redis

from db.settings import get_settings


class RedisNotConfigured(RuntimeError):
    """Raised when a command needs Redis but no REDIS_URL is known."""


@lru_cache(maxsize=1)
def redis() -> Redis:
    url = get_settings().redis_url
    if not url:
        raise RedisNotConfigured(
            "REDIS_URL is not set. Set it to your Redis server, or use `narration-desk run`, "
            "which starts an embedded Redis and passes its URL on."
        )
    return Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=15)


def reset_redis() -> None:
    """Forget the connection (tests and `run` call it after pointing REDIS_URL elsewhere)."""
    redis.cache_clear()
