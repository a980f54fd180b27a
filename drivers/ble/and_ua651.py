"""A&D Medical UA-651BLE blood pressure monitor (vendor variant on top of the
standard Blood Pressure Service).

Contract (what differs from :mod:`drivers.ble.bps`; see
docs/protocols/and-ua-651ble.md for the sources):
- no Current Time Service: the clock is set through a Date Time
  characteristic (0x2A08) inside the Blood Pressure Service, and it must be
  written within a few seconds of enabling indications or the monitor hangs up;
- no Intermediate Cuff Pressure: there is no live cuff pressure to show;
- after connecting, the monitor indicates every measurement in its buffer,
  oldest first; the newest is the result, the older ones are device-memory
  records (:mod:`drivers.memory`, also in ``last_session``); the newest too
  when its time stamp, by a clock this station set at an earlier connection
  (and a station clock that is synchronised), is before the visit's step
  began: then the driver waits for the monitor's next connection;
- A&D's custom service 233BF000-…/233BF001-… takes commands; the driver sends
  "disconnect" (02 01 03) when it has the result so the monitor goes to
  stand-by at once instead of waiting for its own time-out.
Verified against the emulated peripheral built from A&D's public SDK notes as
quoted by open code, not against a real UA-651BLE.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from drivers.ble import and_custom, uuids
from drivers.ble.bps import StandardBpsMonitor, record_to_reading
from drivers.ble.bps_codec import BpsCodecError, decode_measurement
from drivers.ble.gatt_time import DateTime, encode_date_time
from drivers.ble.link import BleBackend, BleLink, naming
from drivers.ble.options import BleOptions
from drivers.ble.standard import opener
from healthkiosk.errors import (
    DeviceConnectionError,
    DeviceError,
    DeviceTimeoutError,
    MeasurementError,
)
from healthkiosk.readings import BloodPressureMeasurement, CuffPressure, MemoryReason

log = logging.getLogger(__name__)

FIRST_RECORD_S = 30.0
"""After connecting, the monitor sends its buffer at once; this is generous."""
QUIET_S = 1.0
"""After the last indication, how long without another means the buffer is done."""


class AndUa651Monitor(StandardBpsMonitor):
    MODEL = "A&D UA-651BLE"

    def __init__(self, *, address: str | None, backend: BleBackend, options: BleOptions) -> None:
        super().__init__(address=address, backend=backend, options=options)
        self.quiet_s = float(options.extra.get("quiet_s", QUIET_S))
        self.last_session: list[BloodPressureMeasurement] = []
        self._clock_ours = False
        """This station set the monitor's clock at an earlier connection."""
        self._set_this_time = False

    async def set_clock(self, link: BleLink) -> None:
        """A&D sets the time through Date Time (0x2A08), after subscribing."""

    async def _write_date_time(self, link: BleLink) -> None:
        if not link.has(uuids.DATE_TIME) or not self.options.may_set_clock():
            return
        now = datetime.now(self.options.tz)
        await link.write(uuids.DATE_TIME, encode_date_time(DateTime.from_datetime(now)))
        self.clock_set_at = now
        self._set_this_time = True

    async def measure(
        self,
        *,
        on_cuff_pressure: Callable[[CuffPressure], None] | None = None,
        timeout_s: float = 180.0,
    ) -> BloodPressureMeasurement:
        if not self.window.open:
            self.window.begin()
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    reading = await self._one_connection(timeout_s)
                    if reading is not None:
                        return reading
        except DeviceError:
            raise
        except TimeoutError:
            raise DeviceTimeoutError(
                f"no result within {timeout_s:.0f} s", device=self.info.label
            ) from None

    async def _one_connection(self, timeout_s: float) -> BloodPressureMeasurement | None:
        """The buffer of one connection: its newest measurement, unless a clock
        this station set dates it before the step (then None: all stored)."""
        clock_ours = self._clock_ours
        self._set_this_time = False
        link = await self.connect(scan_timeout_s=timeout_s)
        try:
            raws = await self._collect(link)
        finally:
            await link.close()
            self._link = None
            self._clock_ours = self._clock_ours or self._set_this_time
        readings: list[BloodPressureMeasurement] = []
        problem: MeasurementError | None = None
        for i, raw in enumerate(raws):
            try:
                record = decode_measurement(raw)
            except BpsCodecError as err:
                raise naming(err, self.info.label) from None
            try:
                readings.append(record_to_reading(record, device=self.info, tz=self.options.tz))
            except MeasurementError as err:
                if i == len(raws) - 1:
                    problem = err  # the newest one failed: that is the elder's
        stored = readings[:-1] if problem is None else readings
        self.last_session = stored
        for old in stored:
            self.window.keep(old, MemoryReason.STORED_AT_CONNECT)
        if problem is not None:
            raise problem
        newest = readings[-1]
        if self.window.before_step(
            newest.device_time,
            drift_s=0.0 if clock_ours else None,
            clock_trusted=self.options.station_clock_trusted(),
        ):
            self.window.keep(newest, MemoryReason.DEVICE_TIME)
            return None
        return newest

    async def _collect(self, link: BleLink) -> list[bytes]:
        received: asyncio.Queue[bytes] = asyncio.Queue()
        await link.subscribe(uuids.BLOOD_PRESSURE_MEASUREMENT, received.put_nowait)
        await self._write_date_time(link)
        raws = [await link.wait("a measurement", received.get(), timeout_s=FIRST_RECORD_S)]
        while True:
            try:
                raws.append(await link.wait("more", received.get(), timeout_s=self.quiet_s))
            except DeviceTimeoutError:
                break  # the buffer is done
            except DeviceConnectionError:
                break  # the monitor hung up after its last record: normal
        await self._send_disconnect(link)
        return raws

    async def _send_disconnect(self, link: BleLink) -> None:
        if link.lost.is_set() or not link.has(uuids.AND_CUSTOM_CHARACTERISTIC):
            return
        try:
            await link.write(
                uuids.AND_CUSTOM_CHARACTERISTIC, and_custom.encode(and_custom.disconnect())
            )
        except DeviceConnectionError as err:
            log.info("%s: disconnect command: %s", self.info.label, err)


open_device = opener(AndUa651Monitor)
