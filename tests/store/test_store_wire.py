"""Store rows ↔ ``hk.reading/1``: the one mapping, both ways."""

from __future__ import annotations

from uuid import UUID

import pytest
from sqlalchemy.orm import Session, sessionmaker

from sync.schema import BloodPressureValues, GlucoseValues, decode, encode
from sync.store.idhash import IdHasher
from sync.store.models import Reading
from sync.store.readings import save_reading
from sync.store.records import Classification
from sync.store.wire import from_message, to_message
from tests.store.builders import (
    BP_CLASS,
    GLU_CLASS,
    STATION,
    T0,
    bp_average,
    glucose,
    make_id,
    resident,
)

COLUMNS = [c.key for c in Reading.__table__.columns if c.key not in {"resident_id", "created_at"}]


def _load(factory: sessionmaker[Session], uuid: UUID) -> Reading:
    with factory() as s:
        return s.get_one(Reading, str(uuid))


def test_blood_pressure_message(factory: sessionmaker[Session], hasher: IdHasher) -> None:
    number = make_id(seq=42)
    saved = save_reading(
        factory,
        hasher=hasher,
        resident=resident(number),
        reading=bp_average(irregular=True),
        classification=BP_CLASS,
        min_free_mb=1,
    )
    msg = to_message(_load(factory, saved.uuid), STATION)
    assert msg.schema_ == "hk.reading/1" and msg.uuid == saved.uuid and msg.station_seq == 1
    assert msg.station_id == STATION and msg.kind == "blood_pressure"
    assert msg.resident.id_number == number and msg.resident.sex == "female"
    assert msg.resident.name == "张三" and msg.resident.birth_date is not None
    v = msg.values
    assert isinstance(v, BloodPressureValues)
    assert (v.systolic, v.diastolic, v.pulse, v.unit, v.irregular_pulse) == (
        140,
        90,
        71,
        "mmHg",
        True,
    )
    assert [m.systolic for m in v.measurements] == [142, 138]
    assert v.measurements[0].measured_at == T0
    assert msg.device.model == "BP-7000" and msg.device.transport == "ble"
    assert msg.classification.category == "grade_1" and msg.classification.rule == "bp.g1"
    assert number not in repr(msg)  # the schema keeps the number out of reprs


def test_glucose_message_lo(factory: sessionmaker[Session], hasher: IdHasher) -> None:
    saved = save_reading(
        factory,
        hasher=hasher,
        resident=resident(),
        reading=glucose(0.5, out_of_range="LO"),
        classification=Classification(category="very_low", urgent=True),
        min_free_mb=1,
    )
    msg = to_message(_load(factory, saved.uuid), STATION)
    v = msg.values
    assert isinstance(v, GlucoseValues)
    assert (v.mmol_per_l, v.out_of_range, v.original_unit, v.meal_context) == (
        None,
        "LO",
        "mg/dL",
        "fasting",
    )
    assert msg.classification.urgent is True


@pytest.mark.parametrize("kind", ["blood_pressure", "glucose"])
def test_row_message_row_is_identity(
    factory: sessionmaker[Session], hasher: IdHasher, kind: str
) -> None:
    reading = (
        bp_average(((181, 111, 80), (175, 105, None)))
        if kind == "blood_pressure"
        else glucose(17.3)
    )
    saved = save_reading(
        factory,
        hasher=hasher,
        resident=resident(),
        reading=reading,
        classification=BP_CLASS if kind == "blood_pressure" else GLU_CLASS,
        min_free_mb=1,
    )
    row = _load(factory, saved.uuid)
    msg = to_message(row, STATION)
    back = from_message(decode(encode(msg)))  # type: ignore[arg-type]
    assert back.resident.id_number.value == row.resident.id_number
    assert back.resident.name == row.resident.name
    assert set(back.columns) == {*COLUMNS, "created_at"}
    for column in COLUMNS:
        assert back.columns[column] == getattr(row, column), column
    again = back.to_row(resident_id=row.resident_id)
    again.resident = row.resident
    assert to_message(again, STATION) == msg
