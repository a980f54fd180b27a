"""LifeScan OneTouch UltraEasy / UltraMini glucose meter (LifeScan binary protocol).

Contract:

* Features: record count and records by index (0 is the newest), memory
  download oldest first (all, after a sequence number, or after a time),
  waiting for a new test (the meter cannot push: the record count is polled),
  reading and setting the clock, serial number, software version, display
  unit. Values arrive in mg/dL and are converted to mmol/L; below 20 reads
  ``LO`` and above 600 ``HI`` (the meter's range).
* Sequence numbers: record index counted from the oldest (0). Once the
  memory (500 tests on the real meter) is full the oldest drop out and the
  numbering shifts: use ``after_time`` for incremental downloads then.
* A link lost mid-download raises
  :class:`~healthkiosk.errors.DownloadInterrupted` with the records that
  arrived (oldest first), so storing them and downloading again after the
  last one resumes without a gap.
* Visit-bound (:mod:`drivers.memory`): ``begin_step()`` reads the record
  count and the newest record as the step's baseline; records added since the
  count seen at the previous step (tests made between visits) are kept as
  device memory. ``measure()`` returns a record newer than the step's
  baseline (and moves it on); without a step begun it begins one.
* Connection: the meter's 2.5 mm jack to a LifeScan cable (PL2303,
  ``067b:2303``), 9600 8N1, ``/dev/ttyUSB0`` or a ``/dev/serial/by-id`` link.
* Firmware seen: none captured here; glucometerutils' tests give the packet
  bytes used in ours.
* Protocol: :mod:`drivers.serial.lifescan_binary`; notes in
  ``docs/protocols/onetouch-ultraeasy.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from drivers.memory import StepWindow
from drivers.serial import lifescan_binary as lb
from drivers.serial.common import (
    PollingOptions,
    aware,
    ensure_open,
    local_now,
    named,
    on_link_error,
)
from drivers.serial.opener import port_opener
from drivers.serial.transport import SerialLink
from healthkiosk.errors import (
    DeviceConnectionError,
    DeviceTimeoutError,
    DownloadInterrupted,
)
from healthkiosk.readings import (
    DeviceInfo,
    DeviceMemoryRecord,
    GlucoseMeasurement,
    GlucoseUnit,
    MemoryReason,
    Transport,
)
from healthkiosk.readings import mg_per_dl_to_mmol_per_l as to_mmol

log = logging.getLogger(__name__)

MODEL = "OneTouch UltraEasy"
MANUFACTURER = "LifeScan"


class OneTouchUltraEasy:
    """A :class:`drivers.base.GlucoseMeter` for the OneTouch UltraEasy/UltraMini."""

    def __init__(self, *, port: str, options: PollingOptions) -> None:
        self.options = options
        self.zone = options.zone()
        self.link = SerialLink(
            port, baudrate=options.baudrate, device=f"{MODEL} at {port}",
            reconnect_max_s=options.reconnect_max_s,
        )  # fmt: skip
        self._info = DeviceInfo(
            model=MODEL, transport=Transport.SERIAL, manufacturer=MANUFACTURER, address=port
        )
        self.clock_was_set = False
        self.window = StepWindow(f"OneTouch UltraEasy at {port}")
        self._baseline: tuple[int, lb.EasyRecord | None] | None = None
        """(count, newest record) when the step began; None: no step yet."""
        self._last_count: int | None = None
        """The record count this driver last saw (at any step)."""
        self.unit = "mg/dL"
        self._reset_link_state()

    def _reset_link_state(self) -> None:
        self._framer = lb.PacketFramer()
        self._pending: list[lb.Packet] = []
        self._sent = False
        self._expect = False

    @property
    def info(self) -> DeviceInfo:
        return self._info

    async def open(self) -> None:
        await self.link.open()
        try:
            await self._connect()
        except BaseException:
            await self.link.close()
            raise

    async def close(self) -> None:
        with contextlib.suppress(DeviceConnectionError, DeviceTimeoutError, lb.LifeScanBinaryError):
            if self.link.is_open:
                await self._send(lb.LinkControl(disconnect=True))
        await self.link.close()

    async def _connect(self) -> None:
        self._reset_link_state()
        await self.link.discard_input()
        await self._send(lb.LinkControl(disconnect=True))
        await self._read_packet(ack=True)
        version = lb.parse_version(await self._request(lb.VERSION_REQUEST))
        serial = lb.parse_serial(await self._request(lb.SERIAL_REQUEST))
        self.unit = lb.parse_unit(await self._request(lb.UNIT_REQUEST))
        self._info = DeviceInfo(
            model=MODEL, transport=Transport.SERIAL, manufacturer=MANUFACTURER,
            serial=serial, firmware=version, address=self.link.path,
        )  # fmt: skip
        await self._check_clock()

    async def _check_clock(self) -> None:
        meter = lb.parse_clock(await self._request(lb.clock_request()))
        now = local_now(self.zone)
        skew = (meter - now).total_seconds()
        if abs(skew) <= self.options.clock_tolerance_s:
            return
        log.warning("%s: clock is %+.0f s off", self._info.label, skew)
        if not self.options.may_set_clock():
            return
        set_to = lb.parse_clock(await self._request(lb.clock_request(now)))
        if abs((set_to - now).total_seconds()) > self.options.clock_tolerance_s:
            raise DeviceConnectionError(
                "the meter did not take the new time", device=self._info.label,
                reason="clock_not_set",
            )  # fmt: skip
        self.clock_was_set = True

    # --- link layer ----------------------------------------------------------------

    async def _send(self, link: lb.LinkControl, message: bytes = b"") -> None:
        await self.link.write(lb.encode_packet(lb.Packet(link, message)))

    async def _read_packet(self, *, ack: bool) -> lb.Packet:
        deadline = time.monotonic() + self.options.response_limit_s
        while True:
            while self._pending:
                packet = self._pending.pop(0)
                if packet.link.acknowledge == ack:
                    return packet
                log.debug("%s: unexpected packet skipped", self._info.label)
            error, self._framer.last_error = self._framer.last_error, None
            if error is not None:
                raise named(error, self._info.label)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeoutError("no answer in time", device=self._info.label)
            chunk = await self.link.read_some(
                timeout_s=min(self.options.response_timeout_s, remaining)
            )
            self._pending.extend(self._framer.feed(chunk))

    async def _request(self, message: bytes) -> bytes:
        await self._send(lb.LinkControl(sequence=self._sent, expect_receive=self._expect), message)
        self._sent = not self._sent
        await self._read_packet(ack=True)
        response = await self._read_packet(ack=False)
        if response.link.sequence != self._expect:
            raise lb.LifeScanBinaryError(
                "response out of sequence", raw=lb.encode_packet(response), device=self._info.label
            )
        self._expect = not self._expect
        await self._send(
            lb.LinkControl(acknowledge=True, sequence=self._sent, expect_receive=self._expect)
        )
        return response.message

    async def _session_request(self, message: bytes) -> bytes:
        """A request that re-opens a lost port first (adapter re-plugged)."""
        if not self.link.is_open:
            await ensure_open(self.link)
            await self._connect()
        try:
            return await self._request(message)
        except DeviceConnectionError as err:
            await on_link_error(self.link, err)
            raise

    # --- the GlucoseMeter interface ----------------------------------------------------

    async def count(self) -> int:
        return lb.parse_count(await self._session_request(lb.record_request(lb.COUNT_RECORD)))

    async def record(self, index: int) -> lb.EasyRecord:
        return lb.parse_record(await self._session_request(lb.record_request(index)))

    async def _count_and_newest(self) -> tuple[int, lb.EasyRecord | None]:
        """The record count and the newest record, read as one: a test that
        completes between the two requests would otherwise pair the new record
        with the old count (and so with the previous test's sequence number),
        so the count is read again after the record until it stands still."""
        count = await self.count()
        while True:
            newest = await self.record(0) if count else None
            again = await self.count()
            if again == count:
                return count, newest
            count = again

    def _measurement(self, record: lb.EasyRecord, sequence: int) -> GlucoseMeasurement:
        mg_dl = min(max(record.mg_dl, lb.RANGE_MG_DL[0]), lb.RANGE_MG_DL[1])
        return GlucoseMeasurement(
            mmol_per_l=to_mmol(mg_dl),
            original_value=float(record.mg_dl),
            original_unit=GlucoseUnit.MG_PER_DL,
            device=self._info,
            device_time=aware(record.when, self.zone),
            sequence_number=sequence,
            out_of_range=record.out_of_range,
        )

    async def download(
        self,
        *,
        after_sequence: int | None = None,
        after_time: datetime | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[GlucoseMeasurement]:
        """Records newer than ``after_sequence``/``after_time``, oldest first."""
        total = await self.count()
        first_new = 0 if after_sequence is None else max(0, after_sequence + 1)
        indices = list(range(total - 1 - first_new, -1, -1))  # oldest wanted .. newest
        if after_time is not None:
            indices = await self._newer_than(after_time, indices)
        received: list[GlucoseMeasurement] = []
        try:
            for done, index in enumerate(indices, start=1):
                received.append(self._measurement(await self.record(index), total - 1 - index))
                if on_progress is not None:
                    on_progress(done, len(indices))
        except DeviceConnectionError as err:
            raise DownloadInterrupted(
                f"link lost after {len(received)} of {len(indices)} records",
                records=list(received), device=self._info.label,
            ) from err  # fmt: skip
        return received

    async def _newer_than(self, after: datetime, indices: list[int]) -> list[int]:
        """Walk from the newest back to the first record not after ``after``."""
        newer: list[int] = []
        for index in reversed(indices):
            if aware((await self.record(index)).when, self.zone) <= after:
                break
            newer.append(index)
        return list(reversed(newer))

    def take_memory(self) -> list[DeviceMemoryRecord]:
        return self.window.take()

    async def begin_step(self) -> None:
        """The visit's step begins: the count and newest record now are the
        baseline; the records added since the count last seen are device memory."""
        self.window.begin()
        count, newest = await self._count_and_newest()
        if self._last_count is not None and count > self._last_count:
            for index in range(count - self._last_count - 1, -1, -1):  # oldest first
                record = newest if index == 0 else await self.record(index)
                if record is not None:
                    self.window.keep(
                        self._measurement(record, count - 1 - index), MemoryReason.BEFORE_STEP
                    )
        self._baseline = (count, newest)
        self._last_count = count

    async def measure(self, *, timeout_s: float = 180.0) -> GlucoseMeasurement:
        """The next test the elder makes after the step began (the record count
        is polled)."""

        async def wait() -> GlucoseMeasurement:
            if self._baseline is None:
                await self.begin_step()
            while True:
                count, newest = await self._count_and_newest()
                if newest is not None and (self._baseline is None or newest != self._baseline[1]):
                    self._baseline = (count, newest)
                    self._last_count = count
                    return self._measurement(newest, count - 1)
                await asyncio.sleep(self.options.poll_interval_s)

        try:
            return await asyncio.wait_for(wait(), timeout=timeout_s)
        except TimeoutError:
            raise DeviceTimeoutError(
                f"no new test within {timeout_s:g} s", device=self._info.label
            ) from None


async def _make(port: str, options: Mapping[str, Any] | None) -> OneTouchUltraEasy:
    return OneTouchUltraEasy(port=port, options=PollingOptions.parse(options))


open_device = port_opener(_make)
"""The registry's opener: the meter on ``port``."""
