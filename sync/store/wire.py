"""Mapping between the kiosk store's rows and the wire schema.

Written by the sync helper so the link can run before the store helper's
version lands; the lead reconciles the two (same function name and meaning:
``to_message(reading, station_id)``).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sync.schema import (
    BloodPressureValues,
    GlucoseValues,
    ReadingMessage,
    WireBpMeasurement,
    WireClassification,
    WireDevice,
    WireResident,
)
from sync.store.models import Reading


def _values(r: Reading) -> BloodPressureValues | GlucoseValues:
    if r.kind == "blood_pressure":
        measurements: list[dict[str, Any]] = list(r.measurements or [])
        return BloodPressureValues(
            systolic=r.systolic_mmhg if r.systolic_mmhg is not None else -1,
            diastolic=r.diastolic_mmhg if r.diastolic_mmhg is not None else -1,
            mean_arterial_pressure=r.mean_arterial_mmhg,
            pulse=r.pulse_bpm,
            irregular_pulse=r.irregular_pulse,
            measurements=[WireBpMeasurement.model_validate(m) for m in measurements],
        )
    return GlucoseValues.model_validate(
        {
            "mmol_per_l": r.glucose_mmol_per_l,
            "meal_context": r.meal_context or "random",
            "original_value": r.original_value,
            "original_unit": r.original_unit or "mmol/L",
            "out_of_range": r.out_of_range,
        }
    )


def to_message(reading: Reading, station_id: str) -> ReadingMessage:
    """The ``hk.reading/1`` message for a stored reading (its resident loaded)."""
    res = reading.resident
    return ReadingMessage.model_validate(
        {
            "uuid": UUID(reading.uuid),
            "station_id": station_id,
            "station_seq": reading.station_seq,
            "resident": WireResident(
                id_number=res.id_number, name=res.name, sex=res.sex, birth_date=res.birth_date
            ),
            "kind": reading.kind,
            "measured_at": reading.measured_at,
            "device_time": reading.device_time,
            "values": _values(reading),
            "device": WireDevice(
                model=reading.device_model,
                manufacturer=reading.device_manufacturer,
                serial=reading.device_serial,
                firmware=reading.device_firmware,
                transport=reading.device_transport,
            ),
            "classification": WireClassification(
                category=reading.category,
                urgent=reading.urgent,
                isolated_systolic=reading.isolated_systolic,
                close_to_limit=reading.close_to_limit,
                rule=reading.rule,
            ),
            "software_version": reading.software_version,
        }
    )
