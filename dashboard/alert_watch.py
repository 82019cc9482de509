"""While a dashboard runs, it takes its turn at the minutely alert check that the workers also do.

Without it, "no worker alive" could reach the webhook only while someone had a page open, since a
worker that checks is alive by definition. Every dashboard tries a few times a minute; the shared
lock in `workers.alerts.check_if_due` lets one check per minute happen, wherever it runs.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from db.settings import get_settings
from workers.alerts import CHECK_EVERY_SECONDS, check_if_due
from workers.queue import redis

TRIES_PER_CHECK = 4


async def _watch() -> None:
    checker = f"dashboard@{socket.gethostname()}:{os.getpid()}"
    while True:
        # In a thread: the check reads PostgreSQL and may post for a few seconds; pages stay responsive.
        await asyncio.to_thread(check_if_due, get_settings(), redis(), checker=checker)
        await asyncio.sleep(CHECK_EVERY_SECONDS / TRIES_PER_CHECK)


@asynccontextmanager
async def watch_alerts(_app: Any) -> AsyncIterator[None]:
    """The st.App lifespan: the watch runs from the server's start to its stop."""
    task = asyncio.create_task(_watch(), name="alert-watch")
    try:
        yield None
    finally:
        task.cancel()
