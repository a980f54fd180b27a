"""The kiosk app's :class:`~kiosk.flow.ports.HelpDesk`: the calls file
``kiosk-sync`` sends from, and the acknowledgements file it writes
(:mod:`sync.helpfile`). File work runs in a worker thread.

:mod:`sync.helpfile` (and the wire schema's pydantic models under it) is
imported at the first call or look for acknowledgements, not at start: the
first frame does not wait for models only a call for staff needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.flow.ports import HelpAck, HelpCallRecord

if TYPE_CHECKING:
    from sync.helpfile import CallRecord


class FileHelpDesk:
    def __init__(self, data_dir: Path, *, now: Callable[[], datetime] | None = None) -> None:
        self._data_dir = data_dir
        self._now = now or (lambda: datetime.now(UTC))
        self._lock = asyncio.Lock()

    @property
    def calls_path(self) -> Path:
        from sync import helpfile

        return helpfile.calls_path(self._data_dir)

    @property
    def acks_path(self) -> Path:
        from sync import helpfile

        return helpfile.acks_path(self._data_dir)

    async def call(self, record: HelpCallRecord) -> None:
        from sync import helpfile

        new = helpfile.CallRecord(
            id=record.id,
            reason=record.reason,
            screen=record.screen,
            detail=record.detail,
            called_at=record.called_at,
        )
        async with self._lock:
            await asyncio.to_thread(self._change, lambda calls: [*calls, new])

    async def acknowledge(self, ack: HelpAck) -> None:
        def mark(calls: list[CallRecord]) -> list[CallRecord]:
            return [
                c.model_copy(
                    update={
                        "acknowledged_at": ack.at,
                        "acknowledged_by": ack.by,
                        "acknowledged_where": ack.where,
                    }
                )
                if c.id == ack.call and c.acknowledged_at is None
                else c
                for c in calls
            ]

        async with self._lock:
            await asyncio.to_thread(self._change, mark)

    async def web_acks(self) -> list[HelpAck]:
        from sync import helpfile

        acks = await asyncio.to_thread(helpfile.read_acks, self.acks_path)
        return [HelpAck(call=a.call, at=a.at, by=a.by, where="web") for a in acks]

    def _change(self, change: Callable[[list[CallRecord]], list[CallRecord]]) -> None:
        from sync import helpfile

        self.calls_path.parent.mkdir(parents=True, exist_ok=True)
        calls = helpfile.read_calls(self.calls_path)
        helpfile.write_calls(self.calls_path, change(calls), now=self._now())
