"""LifeScan OneTouch Ultra 2 glucose meter (serial, LifeScan text protocol).

Contract:

* Features: memory download (all records, or only those after a sequence
  number or a time already stored), waiting for a new test (the meter cannot
  push: its memory is polled), reading and setting the clock, serial number
  and software version. Control-solution tests are never readings. Values
  arrive in mg/dL (the meter's storage unit) and are converted to mmol/L.
* Sequence numbers: the meter has none; the driver numbers records from the
  oldest (0) upward. The memory holds 500 tests; once it is full the oldest
  drop out, so after that use ``after_time`` for incremental downloads.
* A dump is sent newest first: if the link drops mid-dump nothing is kept
  (keeping the newest part would make the next incremental download skip the
  older records that never arrived).
* Visit-bound (:mod:`drivers.memory`): ``begin_step()`` reads the memory and
  takes its newest record as the step's baseline; records newer than the
  newest seen at the previous step (tests made between visits) are kept as
  device memory. ``measure()`` returns a record newer than the step's
  baseline (and moves the baseline on); without a step begun it begins one.
* Connection: the meter's 2.5 mm jack to a LifeScan cable (PL2303,
  ``067b:2303``), 9600 8N1, ``/dev/ttyUSB0`` or a udev ``/dev/serial/by-id``
  link. The meter answers only while its display shows "PC".
* Firmware seen: ``P02.00.00 30/08/06`` (glucometerutils' example); the
  emulator reports the same.
* Protocol: :mod:`drivers.serial.lifescan_text`; notes in
  ``docs/protocols/onetouch-ultra2.md``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from drivers.memory import StepWindow
from drivers.serial import lifescan_text as lt
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
    MeasurementError,
    MeasurementProblem,
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

MODEL = "OneTouch Ultra 2"
MANUFACTURER = "LifeScan"
MEMORY_SIZE = 500


class OneTouchUltra2:
    """A :class:`drivers.base.GlucoseMeter` for the OneTouch Ultra 2."""

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
        self.window = StepWindow(f"OneTouch Ultra 2 at {port}")
        self._baseline: lt.Ultra2Record | None = None
        """The newest record when the step began (None: an empty memory)."""
        self._last_seen: lt.Ultra2Record | None = None
        """The newest record this driver has seen (at any step)."""

    @property
    def info(self) -> DeviceInfo:
        return self._info

    # --- lifecycle -------------------------------------------------------------

    async def open(self) -> None:
        await self.link.open()
        try:
            await self._identify()
        except BaseException:
            await self.link.close()
            raise

    async def close(self) -> None:
        await self.link.close()

    async def _identify(self) -> None:
        version = lt.parse_version(await self._command("DM?"))
        serial = lt.parse_serial(await self._command("DM@"))
        self._info = DeviceInfo(
            model=MODEL, transport=Transport.SERIAL, manufacturer=MANUFACTURER,
            serial=serial, firmware=version, address=self.link.path,
        )  # fmt: skip
        await self._check_clock()

    async def _check_clock(self) -> None:
        meter = lt.parse_clock_response(await self._command("DMF"), prefix="F")
        now = local_now(self.zone)
        skew = (meter - now).total_seconds()
        if abs(skew) <= self.options.clock_tolerance_s:
            return
        log.warning("%s: clock is %+.0f s off", self._info.label, skew)
        if not self.options.may_set_clock():
            return
        set_to = lt.parse_clock_response(await self._command(lt.format_set_clock(now)), prefix="T")
        if abs((set_to - now).total_seconds()) > self.options.clock_tolerance_s:
            raise DeviceConnectionError(
                "the meter did not take the new time", device=self._info.label,
                reason="clock_not_set",
            )  # fmt: skip
        self.clock_was_set = True

    # --- wire --------------------------------------------------------------------

    async def _line(self, framer: lt.LineFramer, pending: list[bytes], deadline: float) -> str:
        """The next checksummed line; lines without a checksum are noise."""
        while True:
            while pending:
                line = pending.pop(0)
                try:
                    return lt.parse_line(line)
                except lt.UltraTextChecksum as err:
                    raise named(err, self._info.label) from None
                except lt.UltraTextError:
                    log.debug("%s: skipped a line without a checksum", self._info.label)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeoutError("response not complete in time", device=self._info.label)
            chunk = await self.link.read_some(
                timeout_s=min(self.options.response_timeout_s, remaining)
            )
            pending.extend(framer.feed(chunk))

    async def _command(self, command: str) -> str:
        await self.link.discard_input()
        await self.link.write(lt.encode_command(command))
        return await self._line(
            lt.LineFramer(), [], time.monotonic() + self.options.response_limit_s
        )

    async def _dump(
        self, on_progress: Callable[[int, int], None] | None = None
    ) -> list[lt.Ultra2Record]:
        """The whole memory, newest first."""
        await self.link.discard_input()
        await self.link.write(lt.encode_command("DMP"))
        framer, pending = lt.LineFramer(), list[bytes]()
        deadline = time.monotonic() + self.options.response_limit_s
        header = lt.parse_dump_header(await self._line(framer, pending, deadline))
        records = []
        for _ in range(header.count):
            records.append(lt.parse_record(await self._line(framer, pending, deadline)))
            if on_progress is not None:
                on_progress(len(records), header.count)
        return records

    # --- the GlucoseMeter interface ------------------------------------------------

    def _measurement(self, record: lt.Ultra2Record, sequence: int) -> GlucoseMeasurement:
        flag = record.out_of_range
        mg_dl = min(max(record.mg_dl, lt.RANGE_MG_DL[0]), lt.RANGE_MG_DL[1])
        return GlucoseMeasurement(
            mmol_per_l=to_mmol(mg_dl),
            original_value=float(record.mg_dl),
            original_unit=GlucoseUnit.MG_PER_DL,
            device=self._info,
            device_time=aware(record.when, self.zone),
            sequence_number=sequence,
            out_of_range=flag,
        )

    async def _records(
        self, on_progress: Callable[[int, int], None] | None = None
    ) -> list[tuple[int, lt.Ultra2Record]]:
        await ensure_open(self.link)
        try:
            newest_first = await self._dump(on_progress)
        except DeviceConnectionError as err:
            await on_link_error(self.link, err)
            raise
        n = len(newest_first)
        return [(n - 1 - i, r) for i, r in enumerate(newest_first)]

    async def download(
        self,
        *,
        after_sequence: int | None = None,
        after_time: datetime | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[GlucoseMeasurement]:
        """Stored records newer than ``after_sequence``/``after_time``, oldest
        first; control-solution tests and records with a parity error skipped."""
        try:
            numbered = await self._records(on_progress)
        except DeviceConnectionError as err:
            raise DownloadInterrupted(
                "link lost during the memory dump; nothing kept (the dump is newest first)",
                records=[], device=self._info.label,
            ) from err  # fmt: skip
        chosen = []
        for sequence, record in reversed(numbered):
            if record.control or record.parity_error:
                continue
            if after_sequence is not None and sequence <= after_sequence:
                continue
            if after_time is not None and aware(record.when, self.zone) <= after_time:
                continue
            chosen.append(self._measurement(record, sequence))
        return chosen

    def take_memory(self) -> list[DeviceMemoryRecord]:
        return self.window.take()

    async def begin_step(self) -> None:
        """The visit's step begins: the newest record now is the baseline; the
        tests made since the last one seen are device memory."""
        self.window.begin()
        numbered = await self._records()
        newest = numbered[0][1] if numbered else None
        if self._last_seen is not None:
            for sequence, record in numbered:
                if record == self._last_seen:
                    break
                if not (record.control or record.parity_error):
                    self.window.keep(self._measurement(record, sequence), MemoryReason.BEFORE_STEP)
        self._baseline = self._last_seen = newest

    async def measure(self, *, timeout_s: float = 180.0) -> GlucoseMeasurement:
        """The next test the elder makes after the step began (the memory is
        polled for it)."""

        async def wait() -> GlucoseMeasurement:
            if not self.window.open:
                await self.begin_step()
            while True:
                numbered = await self._records()
                if numbered and numbered[0][1] != self._baseline:
                    sequence, newest = numbered[0]
                    for older_seq, older in numbered[1:]:
                        if older == self._baseline:
                            break
                        if not (older.control or older.parity_error):
                            self.window.keep(
                                self._measurement(older, older_seq), MemoryReason.EARLIER_IN_STEP
                            )
                    self._baseline = self._last_seen = newest
                    if newest.control:
                        log.info("%s: control-solution test ignored", self._info.label)
                        continue
                    if newest.parity_error:
                        raise MeasurementError(
                            "the meter flagged the test as corrupt (parity error)",
                            problem=MeasurementProblem.DEVICE_ERROR, device=self._info.label,
                            code="parity",
                        )  # fmt: skip
                    return self._measurement(newest, sequence)
                await asyncio.sleep(self.options.poll_interval_s)

        try:
            return await asyncio.wait_for(wait(), timeout=timeout_s)
        except TimeoutError:
            raise DeviceTimeoutError(
                f"no new test within {timeout_s:g} s", device=self._info.label
            ) from None


async def _make(port: str, options: Mapping[str, Any] | None) -> OneTouchUltra2:
    return OneTouchUltra2(port=port, options=PollingOptions.parse(options))


open_device = port_opener(_make)
"""The registry's opener: the meter on ``port``."""
