"""``hk.reading/1`` minor 1.1: weight (with BMI), SpO2 and temperature readings
(sync/schema.py), their round trips, the checks on their values, and a receiver
of minor 1.0 (tests/support/schema_v1_0.py, the schema before this change):
it refuses only the new kinds, one by one, and still takes the rest of a batch."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from followup.ingest import check
from healthkiosk.errors import SchemaError
from sync.schema import (
    READING_MINOR,
    ReadingBatch,
    ReadingMessage,
    Spo2Values,
    TemperatureValues,
    WeightValues,
    decode,
    encode,
    from_dict,
)
from tests.support import schema_v1_0 as old
from tests.support.synckit import id_number

VALUES: dict[str, tuple[dict[str, Any], str, bool]] = {
    "blood_pressure": ({"systolic": 150, "diastolic": 95, "pulse": 70}, "grade_1", False),
    "weight": (
        {
            "weight_kg": 68.4,
            "height_m": 1.65,
            "height_source": "scale",
            "bmi": 25.1,
            "original_value": 150.8,
            "original_unit": "lb",
        },
        "overweight",
        False,
    ),
    "spo2": ({"spo2_percent": 88, "pulse": 104, "mode": "continuous"}, "very_low", True),
    "temperature": (
        {"celsius": 38.5, "original_value": 101.3, "original_unit": "F", "site": "ear"},
        "fever",
        False,
    ),
}


def reading(kind: str, seq: int = 1, **over: Any) -> dict[str, Any]:
    values, category, urgent = VALUES[kind]
    doc: dict[str, Any] = {
        "schema": "hk.reading/1",
        "uuid": str(uuid4()),
        "station_id": "st-01",
        "station_seq": seq,
        "resident": {"id_number": id_number(3)},
        "kind": kind,
        "measured_at": "2026-12-07T08:00:00+08:00",
        "values": values,
        "device": {"model": "BLE-EMU", "transport": "ble"},
        "classification": {"category": category, "urgent": urgent, "rule": f"x.{category}"},
        "software_version": "t",
    }
    doc.update(over)
    return doc


@pytest.mark.parametrize("kind", ["weight", "spo2", "temperature"])
def test_each_new_kind_round_trips(kind: str) -> None:
    doc = reading(kind)
    msg = from_dict(doc)
    assert isinstance(msg, ReadingMessage) and msg.kind == kind
    model = {"weight": WeightValues, "spo2": Spo2Values, "temperature": TemperatureValues}[kind]
    assert isinstance(msg.values, model)
    again = decode(encode(msg))
    assert again == msg
    assert json.loads(encode(msg))["values"] == msg.values.model_dump(mode="json")


def test_the_minor_version_is_said() -> None:
    assert READING_MINOR == 1


@pytest.mark.parametrize(
    ("kind", "values", "where"),
    [
        ("weight", {"weight_kg": 68.4, "height_m": 1.65, "height_source": "scale"}, "bmi"),
        ("weight", {"weight_kg": 68.4, "height_m": 0, "height_source": "scale", "bmi": 1},
         "height_m"),
        ("weight", {"weight_kg": 68.4, "height_m": 1.6, "height_source": "guess", "bmi": 26},
         "height_source"),
        ("spo2", {"spo2_percent": 101}, "spo2_percent"),
        ("temperature", {"celsius": float("nan")}, "celsius"),
        ("temperature", {"celsius": 37.0, "site": "elbow"}, "site"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_with_where(kind: str, values: dict[str, Any], where: str) -> None:
    with pytest.raises(SchemaError) as e:
        from_dict(reading(kind, values=values))
    assert e.value.reason == "invalid"
    assert f"values.{where}" in str(e.value)


def test_values_of_another_kind_are_refused() -> None:
    doc = reading("spo2", values=VALUES["temperature"][0])
    with pytest.raises(SchemaError):
        from_dict(doc)


def test_a_new_kind_needs_its_classification() -> None:
    doc = reading("weight")
    del doc["classification"]
    with pytest.raises(SchemaError, match="classification"):
        from_dict(doc)


@settings(max_examples=200, deadline=None)
@given(
    spo2=st.integers(0, 100),
    pulse=st.none() | st.integers(0, 400),
    celsius=st.floats(0, 60, allow_nan=False).map(lambda c: round(c, 1)),
)
def test_round_trips_of_any_valid_values(spo2: int, pulse: int | None, celsius: float) -> None:
    for doc in (
        reading("spo2", values={"spo2_percent": spo2, "pulse": pulse}),
        reading("temperature", values={"celsius": celsius}),
    ):
        msg = from_dict(doc)
        assert decode(encode(msg)) == msg


# --- a receiver of minor 1.0 --------------------------------------------------------


def test_an_old_receiver_refuses_a_new_kind_with_a_reason() -> None:
    with pytest.raises(old.SchemaError) as e:
        old.from_dict(reading("weight"))
    assert e.value.reason == "invalid"
    assert "kind" in str(e.value)


def test_an_old_receiver_still_takes_the_old_kinds_from_a_new_sender() -> None:
    """What a new station writes for blood pressure is what an old receiver reads."""
    msg = from_dict(reading("blood_pressure"))
    got = old.decode(encode(msg))
    assert isinstance(got, old.ReadingMessage)
    assert got.values.systolic == 150 and got.classification.category == "grade_1"


def test_an_old_doctors_side_stores_the_rest_of_a_mixed_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch from a new station, checked by the ingest with the old schema
    in place: the blood pressure is taken, each new reading is refused with
    its own reason and UUID (the station marks those rejected, never resends)."""
    for name in ("ReadingBatch", "ReadingMessage", "StatusMessage", "from_dict"):
        monkeypatch.setattr(check, name, getattr(old, name))
    docs = [reading(k, seq=i) for i, k in enumerate(VALUES, start=1)]
    batch = ReadingBatch.model_validate(
        {"schema": "hk.reading-batch/1", "station_id": "st-01", "readings": docs}
    )
    got = check.check_readings("hk/v1/st/st-01/readings", encode(batch), max_bytes=1 << 20)
    assert [str(r.uuid) for r in got.readings] == [docs[0]["uuid"]]
    assert sorted(str(r.uuid) for r in got.rejections) == sorted(d["uuid"] for d in docs[1:])
    assert all(r.reason.startswith("invalid: kind") for r in got.rejections), got.rejections


def test_the_new_doctors_side_takes_the_whole_batch() -> None:
    docs = [reading(k, seq=i) for i, k in enumerate(VALUES, start=1)]
    batch = ReadingBatch.model_validate(
        {"schema": "hk.reading-batch/1", "station_id": "st-01", "readings": docs}
    )
    got = check.check_readings("hk/v1/st/st-01/readings", encode(batch), max_bytes=1 << 20)
    assert [r.kind for r in got.readings] == list(VALUES)
    assert got.rejections == []
