"""This worker process's lease: an advisory lock held on a connection of its own (db/leases.py).

The connection is not the pool's: a pooled connection is handed to whichever job asks next and may
be closed and reopened at any time, and either would drop or move the lock. The heartbeat is
written on this same connection, so a heartbeat in `tts_worker` always means the lock was held
when it was written. The heartbeat thread calls `beat` and `take_over_lapsed` every second; after a
PostgreSQL restart (or this connection dropping) the next beat reconnects and takes the lock again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from datetime import timedelta

from redis.exceptions import RedisError
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from db import heartbeats, leases
from db.engine import database_url
from workers.engine.reconcile import enqueue_given_back
from workers.redis_connection import redis

log = logging.getLogger(__name__)

MARGIN = timedelta(seconds=3)
"""A lapsed lock counts only once the heartbeat is this old: longer than a beat (1 s) plus a
reconnect, so a lease connection that blinked and is being taken again is not mistaken for death.
A death is acted on within MARGIN plus one beat of the last heartbeat."""
GRACE = timedelta(seconds=10)
"""After a PostgreSQL restart or failover every lock is gone; live workers take theirs again within
a beat or two, and until the oldest lease connection is this old only the heartbeat-age rule acts."""
SERVER_SETTINGS = {
    # A worker's host that vanishes (power, network) keeps its socket open on the server; probing it
    # lets the server drop the session, and so the lock, within ~11 s instead of hours.
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    # The heartbeat thread must not hang behind a stuck statement.
    "statement_timeout": "5s",
}
CLIENT_SETTINGS = {
    "application_name": leases.APPLICATION_NAME,
    "connect_timeout": 5,
    # ...nor behind a server that vanished (libpq ignores these on a Unix socket, where nothing can vanish).
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}


class LeaseClosed(RuntimeError):
    """The worker stopped: a heartbeat still under way must not take the lock again."""


class Lease:
    """The lock, its connection, and the heartbeat written on it; thread-safe."""

    def __init__(self) -> None:
        self.key = leases.new_key()
        self._engine: Engine | None = None
        self._connection: Connection | None = None
        self._first = True
        self._closed = False
        self._lock = threading.Lock()

    def beat(self, *, name: str) -> None:
        """Write the heartbeat, taking the lock first if this connection is new.

        The first beat must come before the worker's first claim: it gives back what a dead
        process of the same name left `processing`, which only holds while this one has claimed
        nothing."""
        with self._lock:
            try:
                self._beat(name)
            except DBAPIError as error:
                if not error.connection_invalidated:
                    raise
                # The connection died under us (PostgreSQL restarted, the session was killed): take
                # the lock again at once, not at the next beat, so the heartbeat keeps within MARGIN.
                self._forget()
                self._beat(name)

    def take_over_lapsed(self) -> None:
        """Give back and enqueue at once the rows of workers whose lease lapsed."""
        with self._lock, Session(bind=self._held()) as session:
            given_back = leases.take_over_lapsed(session, margin=MARGIN, grace=GRACE)
        self._enqueue(given_back, "its lease lapsed: the process ended")

    def close(self) -> None:
        """Release the lock (closing its connection) and forget the engine."""
        with self._lock:
            self._closed = True
            self._forget()
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    def _beat(self, name: str) -> None:
        connection = self._held()
        given_back: list[tuple[str, int, str]] = []
        with Session(bind=connection) as session:
            if self._first:
                given_back = leases.give_back_namesake(session, name=name)
                self._first = False
            heartbeats.beat(
                session, name=name, host=socket.gethostname(), pid=os.getpid(),
                lease_key=self.key,
            )  # fmt: skip
        self._enqueue(given_back, "a process of the same name ended (this one restarted)")

    def _held(self) -> Connection:
        """The lease connection, opened and the lock taken if it is not open (the first time, or it
        dropped). The same key is taken again; if the old session still holds it (the server has not
        yet noticed a dropped connection), a new key: the beat records whichever is held."""
        if self._connection is not None and not self._connection.invalidated:
            return self._connection
        if self._closed:
            raise LeaseClosed("the worker is stopping; its lease is not taken again")
        self._forget()
        if self._engine is None:
            self._engine = create_engine(database_url(), poolclass=NullPool, connect_args=CLIENT_SETTINGS)
        connection = self._engine.connect()
        try:
            for setting, value in SERVER_SETTINGS.items():
                connection.execute(
                    text("SELECT set_config(:setting, :value, false)"), {"setting": setting, "value": value}
                )
            while not leases.take(connection, self.key):
                self.key = leases.new_key()
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _forget(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(DBAPIError):  # already gone: the server dropped the lock with it
                self._connection.close()
            self._connection = None

    @staticmethod
    def _enqueue(given_back: list[tuple[str, int, str]], why: str) -> None:
        if not given_back:
            return
        for kind, row_id, worker in given_back:
            log.warning("worker %s: %s; %s #%s is queued again", worker, why, kind, row_id)
        try:
            enqueue_given_back(redis(), given_back)
        except RedisError as error:  # the rows are queued in PostgreSQL: the reconciler enqueues them
            log.warning("could not enqueue the rows given back (%s); the reconciler will", error)
