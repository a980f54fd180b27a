"""Standard Bluetooth SIG Health Thermometer Service thermometer (0x1809).

Contract:
- scan for a device advertising 0x1809 (the configured address, else the
  first) for the whole measurement time, connect with the scanned ``BLEDevice``;
- read Device Information, Battery Level (``battery_percent``, None without a
  Battery Service) and Temperature Type (0x2A1D) when the thermometer has it
  (its fixed site, used when a measurement names none);
- read the thermometer's clock (Current Time, 0x2A2B) for its offset from
  the station's (``clock_offset``); set it after the measurement, when
  writable and the thermometer is still connected;
- subscribe to Intermediate Temperature (0x2A1E) notifications when present
  (the live value, ``on_intermediate`` in °C) and to Temperature Measurement
  (0x2A1C) indications;
- stored measurements come first and the one just made last: every indication
  until ``settle_s`` (1 s) passes without one, or the thermometer hangs up, is
  one burst. The result is the last temperature not known to be stored (a
  time stamp more than ``max_age_s``, 300 s, old by the thermometer's own
  clock is a stored record; without a time stamp or a readable clock the last
  one is taken); the others are kept in ``memory`` (device-memory records,
  never attributed); a burst of stored ones only → wait for the next;
- a special FLOAT (NaN, NRes, ±INF) → ``MeasurementError(no_value)``; a value
  outside what a clinical thermometer measures (below 10 °C, from 50 °C) →
  ``MeasurementError(out_of_range)``; an undecodable indication →
  :class:`~drivers.ble.hts_codec.HtsCodecError` (raw bytes kept), no reading;
- the reading is in °C at 0.1, halves up (°F converted);
- a link lost before a new measurement → :class:`DeviceConnectionError`, no
  reading (stored ones that came are in ``memory``).
Firmware seen: none on hardware — verified against the emulated thermometer
(``emulation/ble/thermometer.py``) built from the GATT specification.
Visit-bound (:mod:`drivers.memory`): ``begin_step()`` marks the visit's step;
stored temperatures are handed to the kiosk as device-memory records by
``take_memory()`` (the scale and thermometer also count a record older than
the step, by the device's clock, as stored).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from drivers.ble import uuids
from drivers.ble.burst import pick_new
from drivers.ble.hts_codec import (
    HtsCodecError,
    TemperatureRecord,
    decode_intermediate,
    decode_measurement,
    decode_temperature_type,
    site_of,
)
from drivers.ble.link import BleBackend, BleLink, naming
from drivers.ble.options import BleOptions
from drivers.ble.standard import BurstDevice, opener
from healthkiosk.errors import (
    ImplausibleValueError,
    MeasurementError,
    MeasurementProblem,
)
from healthkiosk.readings import (
    DeviceInfo,
    MemoryReason,
    TemperatureMeasurement,
    TemperatureSite,
    TemperatureUnit,
    Transport,
    temperature_to_celsius,
)
from healthkiosk.rules import TemperatureRules, check_temperature_plausible

log = logging.getLogger(__name__)

DEVICE_RANGE_C = (10.0, 50.0)
"""What a clinical thermometer can report (lowest accepted, first refused): a
value outside is a device fault, not a body temperature. (Clinical
plausibility is healthkiosk.rules'.)"""


def record_to_reading(
    record: TemperatureRecord,
    *,
    device: DeviceInfo,
    tz: tzinfo,
    default_site: TemperatureSite | None = None,
) -> TemperatureMeasurement:
    """A decoded 0x2A1C → the kiosk's reading, or MeasurementError."""
    label = device.label
    value = record.temperature.decimal
    if value is None:
        special = str(record.temperature.special)
        raise MeasurementError(
            f"thermometer sent no value ({special})",
            problem=MeasurementProblem.NO_VALUE,
            device=label,
            code=special,
        )
    exact = value if record.unit is TemperatureUnit.CELSIUS else (value - 32) * 5 / 9
    low, high = DEVICE_RANGE_C
    if not low <= exact < high:  # before rounding: a FLOAT can be as large as 10^127
        raise MeasurementError(
            f"{value} {record.unit.value} is outside what a thermometer measures",
            problem=MeasurementProblem.OUT_OF_RANGE,
            device=label,
        )
    celsius = temperature_to_celsius(value, record.unit)
    return TemperatureMeasurement(
        celsius=celsius,
        original_value=float(value),
        original_unit=record.unit,
        device=device,
        site=record.site or default_site,
        device_time=None if record.timestamp is None else record.timestamp.to_datetime(tz),
    )


class StandardThermometer(BurstDevice[TemperatureMeasurement, bytes]):
    """A :class:`drivers.base.Thermometer` over the Health Thermometer Service."""

    MODEL = "Health Thermometer Service thermometer"
    service_uuid = uuids.HEALTH_THERMOMETER_SERVICE
    WHAT = "temperature"

    def __init__(self, *, address: str | None, backend: BleBackend, options: BleOptions) -> None:
        super().__init__(address=address, backend=backend, options=options)
        self.site: TemperatureSite | None = None
        """The site of the Temperature Type characteristic, when the thermometer has one."""

    async def _read_service(self, link: BleLink) -> None:
        self.site = await self._read_site(link)

    async def _read_site(self, link: BleLink) -> TemperatureSite | None:
        uuid = uuids.TEMPERATURE_TYPE
        if not link.has(uuid) or "read" not in link.properties(uuid):
            return None
        raw = await link.read(uuid)
        try:
            return site_of(decode_temperature_type(raw))
        except HtsCodecError:
            log.warning("%s: unreadable Temperature Type %s", self._info.label, raw.hex())
            return None

    async def measure(
        self,
        *,
        on_intermediate: Callable[[float], None] | None = None,
        timeout_s: float = 120.0,
    ) -> TemperatureMeasurement:
        reading = await self._measure(
            lambda link, deadline: self._until_new(link, on_intermediate, deadline), timeout_s
        )
        log.info("%s: measured %.1f °C", self._info.label, reading.celsius)
        return reading

    async def _until_new(
        self,
        link: BleLink,
        on_intermediate: Callable[[float], None] | None,
        deadline: float,
    ) -> TemperatureMeasurement:
        results: asyncio.Queue[bytes] = asyncio.Queue()
        if on_intermediate is not None and link.has(uuids.INTERMEDIATE_TEMPERATURE):
            await link.subscribe(
                uuids.INTERMEDIATE_TEMPERATURE,
                lambda raw: self._intermediate(raw, on_intermediate),
            )
        await link.subscribe(uuids.TEMPERATURE_MEASUREMENT, results.put_nowait)
        return await self._collect(
            link, results, is_result=lambda _raw: True, result=self._result, deadline=deadline
        )

    def _intermediate(self, raw: bytes, callback: Callable[[float], None]) -> None:
        try:
            record = decode_intermediate(raw)
        except HtsCodecError:
            log.warning("%s: undecodable intermediate temperature %s", self._info.label, raw.hex())
            return
        value = record.temperature.decimal
        if value is not None:
            callback(temperature_to_celsius(value, record.unit))

    def _result(self, raws: list[bytes]) -> TemperatureMeasurement | None:
        """The newest temperature that is not a stored one (None when all are
        stored); the others go to ``memory``."""
        label = self._info.label
        tz = self.options.tz
        try:
            records = [decode_measurement(raw) for raw in raws]
        except HtsCodecError as err:
            raise naming(err, label) from None
        times = [None if r.timestamp is None else r.timestamp.to_datetime(tz) for r in records]
        new = pick_new(
            times, offset=self.clock_offset, now=datetime.now(tz), max_age_s=self._max_age_s()
        )
        memory = []
        for index, record in enumerate(records):
            if index == new:
                continue
            try:
                memory.append(self._reading(record))
            except MeasurementError as err:
                log.info("%s: stored record skipped: %s", label, err)
        self.memory = memory
        for stored in memory:
            self.window.keep(stored, MemoryReason.STORED_AT_CONNECT)
        return None if new is None else self._reading(records[new])

    def _reading(self, record: TemperatureRecord) -> TemperatureMeasurement:
        return record_to_reading(
            record, device=self._info, tz=self.options.tz, default_site=self.site
        )


open_device = opener(StandardThermometer)


CAPTURED = DeviceInfo(model="captured bytes", transport=Transport.BLE)


def to_reading(data: bytes, *, rules: TemperatureRules, tz: tzinfo) -> dict[str, Any]:
    """``devices reading temperature``: ``recorded`` true, or false with
    ``reason``, and the temperature in °C to 0.1 with its site. Undecodable
    bytes raise the codec's error."""
    record = decode_measurement(data)
    out: dict[str, Any] = {
        "recorded": False,
        "reason": None,
        "temperature_c": None,
        "site": None if record.site is None else record.site.value,
    }
    try:
        reading = record_to_reading(record, device=CAPTURED, tz=tz)
    except MeasurementError as err:
        out["reason"] = err.reason
        return out
    out["temperature_c"] = reading.celsius
    try:
        check_temperature_plausible(reading.celsius, rules)
    except ImplausibleValueError as err:
        out["reason"] = err.reason
        return out
    out["recorded"] = True
    return out
