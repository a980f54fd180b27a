"""Standard Bluetooth SIG Weight Scale Service scale (0x181D), with the Body
Composition Service (0x181B) where the scale offers it.

Contract:
- scan for a device advertising 0x181D (the configured address, else the
  first) for the whole measurement time (a scale wakes and advertises when
  someone steps on it), connect with the scanned ``BLEDevice``;
- read Device Information, Battery Level (``battery_percent``, None without a
  Battery Service) and the Weight Scale Feature (``feature``, logged: the
  scale's precision; the field's scale is fixed at 0.005 kg / 0.01 lb);
- read the scale's clock (Current Time, 0x2A2B) for its offset from the
  station's (``clock_offset``); set it after the measurement, when writable
  and the scale is still connected (a scale that hangs up at once keeps its
  clock; its offset is measured again at the next connection);
- subscribe to Weight Measurement (0x2A9D) indications and, when the scale
  has a Body Composition Service, to Body Composition Measurement (0x2A9C)
  indications (a measurement sent in two packets, bit 12, is merged);
- a scale sends the measurements it stored while nobody listened first and
  the one just made last: every indication until ``settle_s`` (1 s) passes
  without one, or the scale hangs up, is one burst. The result is the last
  weight not known to be stored: one whose time stamp, by the scale's own
  clock, is more than ``max_age_s`` (300 s) old is a stored record. Without a
  time stamp or a readable clock the last weight is taken. Every other weight
  is kept in ``memory`` (device-memory records, never attributed to the person
  on the scale); a burst of stored weights only → wait for the next one;
- weight 0xFFFF ("measurement unsuccessful") → ``MeasurementError(no_value)``;
  0 kg → ``MeasurementError(out_of_range)``; an undecodable indication →
  :class:`~drivers.ble.weight_codec.WeightCodecError` (raw bytes kept), no reading;
- the reading is in kg at 0.1 (lb converted); a height the scale sent gives
  ``height_m`` and ``bmi`` (computed here, 0.1, halves up); the scale's own
  BMI is kept as ``device_bmi``;
- a link lost before a new weight → :class:`DeviceConnectionError`, no reading
  (stored weights that came are in ``memory``).
Firmware seen: none on hardware — verified against the emulated scale
(``emulation/ble/weight.py``) built from the GATT specification.
Visit-bound (:mod:`drivers.memory`): ``begin_step()`` marks the visit's step;
stored weights are handed to the kiosk as device-memory records by
``take_memory()`` (the scale and thermometer also count a record older than
the step, by the device's clock, as stored).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from drivers.ble import uuids
from drivers.ble.burst import pick_new
from drivers.ble.link import BleBackend, BleLink, naming
from drivers.ble.options import BleOptions
from drivers.ble.standard import BurstDevice, opener
from drivers.ble.weight_codec import (
    BodyCompositionRecord,
    WeightCodecError,
    WeightRecord,
    WeightScaleFeature,
    decode_body_composition,
    decode_weight_measurement,
    decode_weight_scale_feature,
    merge_packets,
)
from healthkiosk.errors import (
    ImplausibleValueError,
    MeasurementError,
    MeasurementProblem,
)
from healthkiosk.readings import (
    KG_PER_LB,
    BodyComposition,
    DeviceInfo,
    HeightUnit,
    MemoryReason,
    Transport,
    WeightMeasurement,
    WeightUnit,
    body_mass_index,
    height_to_m,
    weight_to_kg,
)
from healthkiosk.rules import (
    BmiRules,
    check_bmi_plausible,
    check_height_plausible,
    check_weight_plausible,
)

log = logging.getLogger(__name__)

WEIGHT, BODY = "w", "b"


def _mass_kg(value: Decimal | None, unit: WeightUnit) -> float | None:
    return None if value is None else weight_to_kg(value, unit)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def body_to_reading(record: BodyCompositionRecord) -> BodyComposition:
    unit = record.unit
    return BodyComposition(
        body_fat_percent=_float(record.body_fat_percent),
        muscle_percent=_float(record.muscle_percent),
        muscle_mass_kg=_mass_kg(record.muscle_mass, unit),
        fat_free_mass_kg=_mass_kg(record.fat_free_mass, unit),
        soft_lean_mass_kg=_mass_kg(record.soft_lean_mass, unit),
        body_water_mass_kg=_mass_kg(record.body_water_mass, unit),
        impedance_ohm=_float(record.impedance_ohm),
        basal_metabolism_kj=(
            None if record.basal_metabolism_kj is None else int(record.basal_metabolism_kj)
        ),
    )


def record_to_reading(
    record: WeightRecord,
    *,
    device: DeviceInfo,
    tz: tzinfo,
    body: BodyCompositionRecord | None = None,
) -> WeightMeasurement:
    """A decoded 0x2A9D (and its body composition) → the kiosk's reading, or MeasurementError."""
    label = device.label
    if record.weight is None:
        raise MeasurementError(
            "scale reports the measurement unsuccessful",
            problem=MeasurementProblem.NO_VALUE,
            device=label,
            code="unsuccessful",
        )
    if record.weight <= 0:
        raise MeasurementError(
            f"{record.weight} {record.unit.value} is not a weight: nobody on the scale?",
            problem=MeasurementProblem.OUT_OF_RANGE,
            device=label,
        )
    exact_kg = record.weight
    if record.unit is WeightUnit.LB:
        exact_kg *= Decimal(str(KG_PER_LB))
    weight_kg = weight_to_kg(record.weight, record.unit)
    height_m = bmi = None
    if record.height is not None and record.height > 0:
        h_unit = HeightUnit.M if record.unit is WeightUnit.KG else HeightUnit.IN
        height_m = height_to_m(record.height, h_unit)
        bmi = body_mass_index(weight_kg=exact_kg, height_m=height_m)
    return WeightMeasurement(
        weight_kg=weight_kg,
        original_value=float(record.weight),
        original_unit=record.unit,
        device=device,
        device_time=None if record.timestamp is None else record.timestamp.to_datetime(tz),
        user_id=record.user_id,
        height_m=height_m,
        bmi=bmi,
        device_bmi=_float(record.bmi),
        body_composition=None if body is None else body_to_reading(body),
    )


class StandardWeightScale(BurstDevice[WeightMeasurement, tuple[str, bytes]]):
    """A :class:`drivers.base.WeightScale` over the Weight Scale Service."""

    MODEL = "Weight Scale Service scale"
    service_uuid = uuids.WEIGHT_SCALE_SERVICE
    WHAT = "weight"

    def __init__(self, *, address: str | None, backend: BleBackend, options: BleOptions) -> None:
        super().__init__(address=address, backend=backend, options=options)
        self.feature: WeightScaleFeature | None = None

    async def _read_service(self, link: BleLink) -> None:
        self.feature = await self._read_feature(link)

    async def _read_feature(self, link: BleLink) -> WeightScaleFeature | None:
        uuid = uuids.WEIGHT_SCALE_FEATURE
        if not link.has(uuid) or "read" not in link.properties(uuid):
            return None
        raw = await link.read(uuid)
        try:
            feature = decode_weight_scale_feature(raw)
        except WeightCodecError:
            log.warning("%s: unreadable Weight Scale Feature %s", self._info.label, raw.hex())
            return None
        log.info("%s: %s", self._info.label, feature.as_dict())
        return feature

    async def measure(self, *, timeout_s: float = 120.0) -> WeightMeasurement:
        reading = await self._measure(self._until_new, timeout_s)
        log.info("%s: measured %.1f kg", self._info.label, reading.weight_kg)
        return reading

    async def _until_new(self, link: BleLink, deadline: float) -> WeightMeasurement:
        events: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        if link.has(uuids.BODY_COMPOSITION_MEASUREMENT):
            await link.subscribe(
                uuids.BODY_COMPOSITION_MEASUREMENT, lambda raw: events.put_nowait((BODY, raw))
            )
        await link.subscribe(uuids.WEIGHT_MEASUREMENT, lambda raw: events.put_nowait((WEIGHT, raw)))
        return await self._collect(
            link,
            events,
            is_result=lambda event: event[0] == WEIGHT,
            result=self._result,
            deadline=deadline,
        )

    def _result(self, events: list[tuple[str, bytes]]) -> WeightMeasurement | None:
        """The reading of the newest weight that is not a stored one (None when
        all are stored); the others go to ``memory``."""
        label = self._info.label
        tz = self.options.tz
        weights: list[WeightRecord] = []
        bodies: list[BodyCompositionRecord] = []
        pending: BodyCompositionRecord | None = None
        try:
            for kind, raw in events:
                if kind == WEIGHT:
                    weights.append(decode_weight_measurement(raw))
                    continue
                packet = decode_body_composition(raw)
                packet = packet if pending is None else merge_packets(pending, packet)
                if packet.multiple_packet:
                    pending = packet
                else:
                    bodies.append(packet)
                    pending = None
        except WeightCodecError as err:
            raise naming(err, label) from None
        if pending is not None:
            log.warning("%s: body composition's second packet never came", label)
        times = [None if w.timestamp is None else w.timestamp.to_datetime(tz) for w in weights]
        new = pick_new(
            times, offset=self.clock_offset, now=datetime.now(tz), max_age_s=self._max_age_s()
        )
        memory = []
        for index, record in enumerate(weights):
            if index == new:
                continue
            try:
                memory.append(record_to_reading(record, device=self._info, tz=tz))
            except MeasurementError as err:
                log.info("%s: stored record skipped: %s", label, err)
        self.memory = memory
        for stored in memory:
            self.window.keep(stored, MemoryReason.STORED_AT_CONNECT)
        if memory:
            log.info("%s: %d stored measurement(s) kept as device memory", label, len(memory))
        if new is None:
            return None
        last = weights[new]
        body = bodies[-1] if bodies and _same_measurement(bodies[-1], last) else None
        return record_to_reading(last, device=self._info, tz=tz, body=body)


def _same_measurement(body: BodyCompositionRecord, weight: WeightRecord) -> bool:
    """A body composition belongs to the weight with the same time stamp and
    user (either may leave them out)."""
    both_timed = body.timestamp is not None and weight.timestamp is not None
    if both_timed and body.timestamp != weight.timestamp:
        return False
    return body.user_id is None or weight.user_id is None or body.user_id == weight.user_id


open_device = opener(StandardWeightScale)


CAPTURED = DeviceInfo(model="captured bytes", transport=Transport.BLE)


def to_reading(data: bytes, *, rules: BmiRules, tz: tzinfo) -> dict[str, Any]:
    """``devices reading weight``: what the kiosk would record from one Weight
    Measurement — ``recorded`` true, or false with ``reason`` — and the values
    in the kiosk's units (kg and BMI to 0.1, m). Undecodable bytes raise the
    codec's error."""
    record = decode_weight_measurement(data)
    out: dict[str, Any] = {
        "recorded": False,
        "reason": None,
        "weight_kg": None,
        "bmi": None,
        "height_m": None,
        "user_id": record.user_id,
    }
    try:
        reading = record_to_reading(record, device=CAPTURED, tz=tz)
    except MeasurementError as err:
        out["reason"] = err.reason
        return out
    out.update(weight_kg=reading.weight_kg, bmi=reading.bmi, height_m=reading.height_m)
    try:
        check_weight_plausible(reading.weight_kg, rules)
        if reading.height_m is not None and reading.bmi is not None:
            check_height_plausible(reading.height_m, rules)
            check_bmi_plausible(reading.bmi, rules)
    except ImplausibleValueError as err:
        out["reason"] = err.reason
        return out
    out["recorded"] = True
    return out
