"""The kiosk app's :class:`~kiosk.flow.ports.HelpDesk`: the calls file
``kiosk-sync`` sends from, and the acknowledgements file it writes
(:mod:`sync.helpfile`). File work runs in a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from kiosk.flow.ports import HelpAck, HelpCallRecord
from sync import helpfile


class FileHelpDesk:
    def __init__(self, data_dir: Path, *, now: Callable[[], datetime] | None = None) -> None:
        self.calls_path = helpfile.calls_path(data_dir)
        self.acks_path = helpfile.acks_path(data_dir)
        self._now = now or (lambda: datetime.now(UTC))
        self._lock = asyncio.Lock()

    async def call(self, record: HelpCallRecord) -> None:
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
        def mark(calls: list[helpfile.CallRecord]) -> list[helpfile.CallRecord]:
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
        acks = await asyncio.to_thread(helpfile.read_acks, self.acks_path)
        return [HelpAck(call=a.call, at=a.at, by=a.by, where="web") for a in acks]

    def _change(
        self, change: Callable[[list[helpfile.CallRecord]], list[helpfile.CallRecord]]
    ) -> None:
        self.calls_path.parent.mkdir(parents=True, exist_ok=True)
        calls = helpfile.read_calls(self.calls_path)
        helpfile.write_calls(self.calls_path, change(calls), now=self._now())
