"""Time for the visit flow: injected, so tests run on a fake clock.

The flow asks a :class:`Clock` for monotonic seconds (deadlines), the wall
clock in UTC (a reading's ``measured_at``) and for an awaitable sleep. The
real clock uses :mod:`asyncio`; :class:`FakeClock` only moves when a test
calls :meth:`FakeClock.advance`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock that stands still until :meth:`advance` moves it.

    Sleepers wake in deadline order; after each wake-up the loop runs until
    every task has settled, so a test sees the state the real loop would.
    """

    def __init__(self, *, start: datetime | None = None) -> None:
        self._t = 0.0
        self._start = start or datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._t

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._t)

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._t + max(0.0, seconds), next(self._seq), fut))
        await fut

    async def settle(self) -> None:
        """Let every runnable task run until none is ready (no time passes)."""
        for _ in range(12):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking sleepers on the way."""
        target = self._t + seconds
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            when, _, fut = heapq.heappop(self._sleepers)
            self._t = max(self._t, when)
            if not fut.done():
                fut.set_result(None)
            await self.settle()
        self._t = target
        await self.settle()
