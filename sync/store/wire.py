"""The one place that maps store rows to ``hk.reading/1`` messages and back.

Used by the store when it saves a reading (:func:`columns`), by ``kiosk-sync``
when it publishes (:func:`to_message`), and by ``store export/import``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from healthkiosk.idnumber import parse as parse_id_number
from sync.schema import (
    BloodPressureValues,
    DeviceEventValues,
    GlucoseValues,
    ReadingMessage,
    WireBpMeasurement,
    WireClassification,
    WireDevice,
    WireResident,
)
from sync.store.models import Reading, Resident
from sync.store.records import NewReading, ResidentDetails


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def measurement_dict(m: WireBpMeasurement) -> dict[str, Any]:
    """How one averaged measurement is kept in ``readings.measurements``."""
    normal = m.model_copy(
        update={"measured_at": _utc(m.measured_at), "device_time": _utc(m.device_time)}
    )
    out: dict[str, Any] = normal.model_dump(mode="json")
    return out


def values_of(row: Reading) -> BloodPressureValues | GlucoseValues | DeviceEventValues:
    if row.kind == "device_event":
        return DeviceEventValues.model_validate(row.event or {})
    if row.kind == "blood_pressure":
        return BloodPressureValues.model_validate(
            {
                "systolic": row.systolic_mmhg,
                "diastolic": row.diastolic_mmhg,
                "mean_arterial_pressure": row.mean_arterial_mmhg,
                "pulse": row.pulse_bpm,
                "unit": "mmHg",
                "irregular_pulse": row.irregular_pulse,
                "measurements": row.measurements or [],
            }
        )
    if row.kind == "glucose":
        return GlucoseValues.model_validate(
            {
                "mmol_per_l": row.glucose_mmol_per_l,
                "meal_context": row.meal_context or "random",
                "original_value": row.original_value,
                "original_unit": row.original_unit or "mmol/L",
                "out_of_range": row.out_of_range,
            }
        )
    raise ValueError(f"unknown reading kind {row.kind!r}")


def device_of(row: Reading) -> WireDevice:
    return WireDevice.model_validate(
        {
            "model": row.device_model,
            "manufacturer": row.device_manufacturer,
            "serial": row.device_serial,
            "firmware": row.device_firmware,
            "transport": row.device_transport,
        }
    )


def classification_of(row: Reading) -> WireClassification | None:
    if row.kind == "device_event":
        return None
    rules = None
    if row.rules_digest is not None:
        rules = {"name": row.rules_name or "", "digest": row.rules_digest}
    return WireClassification.model_validate(
        {
            "category": row.category,
            "urgent": row.urgent,
            "isolated_systolic": row.isolated_systolic,
            "close_to_limit": row.close_to_limit,
            "rule": row.rule,
            "rules": rules,
        }
    )


def resident_of(resident: Resident) -> WireResident:
    return WireResident.model_validate(
        {
            "id_number": resident.id_number,
            "name": resident.name,
            "sex": resident.sex,
            "birth_date": resident.birth_date,
        }
    )


def to_message(reading: Reading, station_id: str) -> ReadingMessage:
    """The ``hk.reading/1`` message for a stored reading (validated)."""
    return ReadingMessage(
        uuid=UUID(reading.uuid),
        station_id=station_id,
        station_seq=reading.station_seq,
        resident=resident_of(reading.resident),
        kind=reading.kind,
        measured_at=reading.measured_at,
        device_time=reading.device_time,
        values=values_of(reading),
        device=device_of(reading),
        classification=classification_of(reading),
        software_version=reading.software_version,
        clock_synced=reading.clock_synced,
    )


def from_message(msg: ReadingMessage) -> NewReading:
    """The store's view of a received (or imported) message (a reading, not a
    device event: ``ValueError``)."""
    if isinstance(msg.values, DeviceEventValues) or msg.classification is None:
        raise ValueError("a device event is not a reading")
    r = msg.resident
    resident = ResidentDetails(
        id_number=parse_id_number(r.id_number),
        name=r.name,
        sex=r.sex,
        birth_date=r.birth_date,
    )
    return NewReading(
        uuid=msg.uuid,
        resident=resident,
        measured_at=msg.measured_at,
        device_time=msg.device_time,
        values=msg.values,
        device=msg.device,
        classification=msg.classification,
        station_seq=msg.station_seq,
        software_version=msg.software_version,
        clock_synced=msg.clock_synced,
    )


def columns(reading: NewReading, *, station_seq: int, created_at: datetime) -> dict[str, Any]:
    """Every ``readings`` column of a reading but ``resident_id`` and
    ``visit_id`` (set by whoever stores it)."""
    c = reading.classification
    d = reading.device
    rules = None if c is None else c.rules
    out: dict[str, Any] = {
        "uuid": str(reading.uuid),
        "station_seq": station_seq,
        "kind": reading.kind,
        "measured_at": _utc(reading.measured_at),
        "device_time": _utc(reading.device_time),
        "systolic_mmhg": None,
        "diastolic_mmhg": None,
        "mean_arterial_mmhg": None,
        "pulse_bpm": None,
        "irregular_pulse": False,
        "measurements": None,
        "glucose_mmol_per_l": None,
        "meal_context": None,
        "original_value": None,
        "original_unit": None,
        "out_of_range": None,
        "device_model": d.model,
        "device_manufacturer": d.manufacturer,
        "device_serial": d.serial,
        "device_firmware": d.firmware,
        "device_transport": d.transport,
        "category": "" if c is None else c.category,
        "urgent": False if c is None else c.urgent,
        "isolated_systolic": None if c is None else c.isolated_systolic,
        "close_to_limit": False if c is None else c.close_to_limit,
        "rule": None if c is None else c.rule,
        "rules_name": rules.name if rules is not None else None,
        "rules_digest": rules.digest if rules is not None else None,
        "event": None,
        "software_version": reading.software_version,
        "created_at": created_at,
        "clock_synced": reading.clock_synced,
    }
    v = reading.values
    if isinstance(v, DeviceEventValues):
        out["event"] = v.model_dump(mode="json")
    elif isinstance(v, BloodPressureValues):
        out.update(
            systolic_mmhg=v.systolic,
            diastolic_mmhg=v.diastolic,
            mean_arterial_mmhg=v.mean_arterial_pressure,
            pulse_bpm=v.pulse,
            irregular_pulse=v.irregular_pulse,
            measurements=[measurement_dict(m) for m in v.measurements],
        )
    else:
        out.update(
            glucose_mmol_per_l=v.mmol_per_l,
            meal_context=v.meal_context,
            original_value=v.original_value,
            original_unit=v.original_unit,
            out_of_range=v.out_of_range,
        )
    return out
