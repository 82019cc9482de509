"""Requests in flight from this worker process to one provider, shared by every job it holds.

A worker holds several jobs at once (workers/engine/worker.py), so the per-provider limit
(OPENAI_CONCURRENCY, ELEVENLABS_CONCURRENCY, LOCAL_CONCURRENCY) is counted across all of them, not
per job: eight one-passage scene narrations keep four OpenAI requests in flight, and one long story
can use all four too. A free place goes to the waiting request of the highest-priority row first
(then the one that asked first), so a high-priority row that arrives behind a worker full of low
ones sends its request next instead of queueing behind them.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

LOOK_AGAIN_SECONDS = 0.5
"""How often a waiting request runs its stop check (cancelled, taken over, shutting down)."""


class ProviderGate:
    """At most `limit` requests at once; waiting ones served by priority, then arrival."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight = 0
        self._waiting: list[tuple[int, int]] = []
        self._arrivals = itertools.count()
        self._changed = threading.Condition()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextmanager
    def held(self, priority: int, check: Callable[[], None]) -> Iterator[None]:
        """Hold a place for one request. `check()` runs between looks while waiting and may raise
        (the job was cancelled or the worker is stopping); the place is then not taken."""
        ticket = (-priority, next(self._arrivals))
        with self._changed:
            heapq.heappush(self._waiting, ticket)
        try:
            while not self._enter(ticket):
                check()
        except BaseException:
            with self._changed:
                self._waiting.remove(ticket)
                heapq.heapify(self._waiting)
                self._changed.notify_all()  # the next in line may be able to go now
            raise
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    def _enter(self, ticket: tuple[int, int]) -> bool:
        """Take a place if `ticket` is first in line and one is free; else wait a little."""
        with self._changed:
            if self._in_flight < self.limit and self._waiting[0] == ticket:
                heapq.heappop(self._waiting)
                self._in_flight += 1
                self._changed.notify_all()  # the next in line may fit too
                return True
            self._changed.wait(LOOK_AGAIN_SECONDS)
            return False
