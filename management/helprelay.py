"""Calls for staff inside ``kiosk-sync`` (issue 16).

The kiosk app writes its calls to ``<data_dir>/help-calls.json``
(:mod:`sync.helpfile`). :class:`HelpRelay` reads that file every
:data:`POLL_S` and publishes each call as ``hk.help/1`` on
``hk/v1/st/<id>/help`` (QoS 1), and again once it is acknowledged. A call
whose publish fails is tried again at the next look; after a restart every
call in the file is sent again (the doctor's side keeps one row per call).

An acknowledgement from the web arrives as the command ``help_ack``
(:class:`HelpAckArgs`), handled by :meth:`HelpRelay.acknowledge`: kept in
``<data_dir>/help-acks.json`` for the kiosk app to read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from healthkiosk.errors import HealthKioskError
from sync import helpfile
from sync.schema import encode, topic

log = logging.getLogger(__name__)

POLL_S = 1.0
Publish = Callable[[str, bytes], Awaitable[None]]


class HelpAckArgs(BaseModel):
    """``args`` of the ``help_ack`` command."""

    call: UUID
    by: str = Field(default="", max_length=200)

    model_config = ConfigDict(extra="ignore", frozen=True)


class HelpRelay:
    def __init__(
        self,
        data_dir: Path,
        station_id: str,
        *,
        publish: Publish,
        clock: Callable[[], datetime],
    ) -> None:
        """``publish(topic, payload)``: at QoS 1, raising
        :class:`~healthkiosk.errors.HealthKioskError` when not sent."""
        self.calls_path = helpfile.calls_path(data_dir)
        self.acks_path = helpfile.acks_path(data_dir)
        self.station_id = station_id
        self._publish = publish
        self._clock = clock
        self.sent: set[tuple[str, bool]] = set()

    async def run(self) -> None:
        while True:
            await self.relay_once()
            await asyncio.sleep(POLL_S)

    async def relay_once(self) -> int:
        """Publish what the file holds and was not sent yet; how many were sent."""
        calls = await asyncio.to_thread(helpfile.read_calls, self.calls_path)
        n = 0
        for call in calls:
            if call.state_key in self.sent:
                continue
            try:
                msg = call.message(self.station_id)
            except ValueError as err:
                log.warning("help call %s not sent: %s", call.id, err)
                self.sent.add(call.state_key)
                continue
            try:
                await self._publish(topic(self.station_id, "help"), encode(msg))
            except HealthKioskError as err:
                log.warning("help call %s not sent yet: %s", call.id, err)
                break
            self.sent.add(call.state_key)
            n += 1
            log.info(
                "help call %s (%s, screen %s)%s sent",
                call.id,
                call.reason,
                call.screen,
                " acknowledged" if call.acknowledged_at else "",
            )
        return n

    async def acknowledge(self, args: HelpAckArgs) -> tuple[bool, str]:
        """The command ``help_ack``: keep it for the kiosk app."""
        ack = helpfile.AckRecord(call=str(args.call), at=self._clock(), by=args.by)
        now = self._clock()
        new = await asyncio.to_thread(helpfile.add_ack, self.acks_path, ack, now=now)
        known = any(
            c.id == ack.call for c in await asyncio.to_thread(helpfile.read_calls, self.calls_path)
        )
        if not known:
            return True, f"call {ack.call} acknowledged (not a call this station knows now)"
        return True, f"call {ack.call} acknowledged" + ("" if new else " (again)")
