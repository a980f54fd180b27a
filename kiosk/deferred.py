"""A recorder opened off the start-up path.

Opening the store imports SQLAlchemy and runs an integrity-checked open of
SQLite: a few hundred milliseconds the first frame should not wait for.
:class:`DeferredRecorder` opens it in a worker thread (started with
:meth:`open_soon`, e.g. once the first frame is drawn) and every call waits
for it, so nothing is ever lost or reordered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from healthkiosk.readings import DeviceMemoryRecord
from kiosk.flow.ports import (
    CompletedReading,
    CouldNotMeasure,
    Recorder,
    ResidentIdentity,
    StoreStatus,
)
from kiosk.flow.state import TrendPoint


class DeferredRecorder:
    def __init__(self, factory: Callable[[], Recorder], *, timeout_s: float = 30.0) -> None:
        self._factory = factory
        self._timeout_s = timeout_s
        self._opened: asyncio.Task[Recorder] | None = None

    def open_soon(self) -> None:
        if self._opened is None:
            self._opened = asyncio.get_running_loop().create_task(
                asyncio.to_thread(self._factory), name="open-store"
            )

    async def _get(self) -> Recorder:
        self.open_soon()
        assert self._opened is not None
        return await asyncio.wait_for(asyncio.shield(self._opened), self._timeout_s)

    async def save(self, reading: CompletedReading) -> None:
        await (await self._get()).save(reading)

    async def end_visit(self, visit_uuid: str, *, outcome: str, at: datetime) -> None:
        await (await self._get()).end_visit(visit_uuid, outcome=outcome, at=at)

    async def recent(self, resident: ResidentIdentity, *, limit: int) -> list[TrendPoint]:
        return await (await self._get()).recent(resident, limit=limit)

    async def known_name(self, id_number: str) -> str | None:
        return await (await self._get()).known_name(id_number)

    async def record_event(self, *, device: str, kind: str, detail: dict[str, Any]) -> None:
        await (await self._get()).record_event(device=device, kind=kind, detail=detail)

    async def record_memory(self, *, role: str, record: DeviceMemoryRecord) -> None:
        await (await self._get()).record_memory(role=role, record=record)

    async def save_event(self, event: CouldNotMeasure) -> None:
        await (await self._get()).save_event(event)

    async def status(self) -> StoreStatus:
        return await (await self._get()).status()
