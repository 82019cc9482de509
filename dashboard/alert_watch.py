"""While a dashboard runs, it takes its turn at the minutely alert check that the workers also do.

Without it, "no worker alive" could reach the webhook only while someone had a page open, since a
worker that checks is alive by definition. Every dashboard tries a few times a minute; the shared
lock in `workers.operations.alerts.check_if_due` lets one check per minute happen, wherever it runs.

A round that fails (a setting made invalid, Redis gone) is logged and the next one runs as planned:
the watch is a background task nobody would see die.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from workers.operations.alerts import CHECK_EVERY_SECONDS, check_if_due
from workers.operations.startup import StartupRefused, load_settings
from workers.redis_connection import redis

log = logging.getLogger(__name__)

TRIES_PER_CHECK = 4
ROUND_SECONDS = CHECK_EVERY_SECONDS / TRIES_PER_CHECK


def watch_round(checker: str) -> None:
    """One turn at the check; never raises, so the loop around it cannot end."""
    try:
        check_if_due(load_settings(), redis(), checker=checker)
    except StartupRefused as refused:  # a sentence without the values of secret settings, not a traceback
        log.error("alert watch round failed: %s Trying again in %.0f s.", refused, ROUND_SECONDS)
    except Exception:
        log.exception("alert watch round failed; trying again in %.0f s", ROUND_SECONDS)


async def _watch() -> None:
    checker = f"dashboard@{socket.gethostname()}:{os.getpid()}"
    while True:
        # In a thread: the check reads PostgreSQL and may post for a few seconds; pages stay responsive.
        await asyncio.to_thread(watch_round, checker)
        await asyncio.sleep(ROUND_SECONDS)


@asynccontextmanager
async def watch_alerts(_app: Any) -> AsyncIterator[None]:
    """The st.App lifespan: the watch runs from the server's start to its stop."""
    task = asyncio.create_task(_watch(), name="alert-watch")
    try:
        yield None
    finally:
        task.cancel()
