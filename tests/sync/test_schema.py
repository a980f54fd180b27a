"""The wire schema: versions, batches, round trips, reasons."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthkiosk.errors import SchemaError
from healthkiosk.idnumber import check_character
from sync.schema import (
    BloodPressureValues,
    DesiredConfig,
    DeviceEventValues,
    GlucoseValues,
    ReadingBatch,
    ReadingMessage,
    Receipt,
    StatusMessage,
    decode,
    encode,
    to_dict,
)

FIRST17 = "31010419560823041"
NUMBER = FIRST17 + check_character(FIRST17)


def reading(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": "hk.reading/1",
        "uuid": str(uuid4()),
        "station_id": "st-01",
        "station_seq": 7,
        "resident": {
            "id_number": NUMBER,
            "name": "王秀英",
            "sex": "female",
            "birth_date": "1956-08-23",
        },
        "kind": "blood_pressure",
        "measured_at": "2026-03-01T16:30:00+08:00",
        "values": {"systolic": 152, "diastolic": 94, "pulse": 71, "unit": "mmHg"},
        "device": {"model": "BP-7000", "transport": "ble"},
        "classification": {"category": "grade_1", "urgent": False, "isolated_systolic": False},
        "software_version": "0.1.0",
    }
    doc.update(over)
    return doc


def test_reading_round_trip() -> None:
    msg = decode(json.dumps(reading()))
    assert isinstance(msg, ReadingMessage) and isinstance(msg.values, BloodPressureValues)
    assert msg.measured_at.utcoffset() == timedelta(hours=8)
    wire = encode(msg)
    assert wire.startswith(b'{"schema":"hk.reading/1"')
    assert decode(wire) == msg
    assert NUMBER not in repr(msg)


def test_unknown_major_version_is_refused_with_its_reason() -> None:
    with pytest.raises(SchemaError) as info:
        decode(json.dumps(reading(schema="hk.reading/2")))
    assert info.value.reason == "schema_version"
    assert "hk.reading/1" in str(info.value)
    for bad, reason in (
        ({"schema": "hk.other/1"}, "schema_unknown"),
        ({"schema": 1}, "schema_missing"),
        ({}, "schema_missing"),
    ):
        with pytest.raises(SchemaError) as info:
            decode(json.dumps(bad))
        assert info.value.reason == reason
    with pytest.raises(SchemaError) as info:
        decode(b"\xff not json")
    assert info.value.reason == "not_json"
    with pytest.raises(SchemaError) as info:
        decode("[1, 2]")
    assert info.value.reason == "not_object"


def test_unknown_fields_within_a_major_version_are_ignored() -> None:
    msg = decode(json.dumps(reading(added_in_1_1="later")))
    assert isinstance(msg, ReadingMessage)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"kind": "glucose"}, "values"),
        ({"values": {"mmol_per_l": 5.5}}, "values"),
        ({"measured_at": "2026-03-01T16:30:00"}, "measured_at"),
        ({"station_id": "Bad Station"}, "station_id"),
        ({"resident": {"id_number": NUMBER[:17] + "0" if NUMBER[17] != "0" else "1"}}, "id_number"),
        ({"classification": {"category": "hypertension", "urgent": True}}, "category"),
    ],
)
def test_invalid_readings_say_where(change: dict[str, Any], where: str) -> None:
    with pytest.raises(SchemaError) as info:
        decode(json.dumps(reading(**change)))
    assert info.value.reason == "invalid" and where in str(info.value)
    assert NUMBER not in str(info.value)


def test_glucose_value_or_lo_hi() -> None:
    base = {"kind": "glucose", "classification": {"category": "very_high", "urgent": True}}
    ok = decode(json.dumps(reading(**base, values={"mmol_per_l": None, "out_of_range": "HI"})))
    assert isinstance(ok, ReadingMessage) and isinstance(ok.values, GlucoseValues)
    for values in ({"mmol_per_l": None}, {"mmol_per_l": 20.0, "out_of_range": "HI"}):
        with pytest.raises(SchemaError, match="exactly one"):
            decode(json.dumps(reading(**base, values=values)))


def test_a_batch_round_trips_and_an_empty_one_is_refused() -> None:
    """(Mixed stations in one batch: refused by the ingest, tests/followup/ingest/test_check.py.)"""
    a, b = reading(), reading()
    batch = {"schema": "hk.reading-batch/1", "station_id": "st-01", "readings": [a, b]}
    got = decode(json.dumps(batch))
    assert isinstance(got, ReadingBatch)
    assert [str(r.uuid) for r in got.readings] == [a["uuid"], b["uuid"]]
    assert decode(encode(got)) == got
    with pytest.raises(SchemaError) as info:
        decode(json.dumps({**batch, "readings": []}))
    assert info.value.reason == "invalid"


def test_receipt_and_status_round_trip() -> None:
    r = Receipt(station_id="st-01", accepted=[uuid4()], rejected=[{"uuid": uuid4(), "reason": "x"}])  # type: ignore[list-item]
    assert decode(encode(r)) == r
    s = StatusMessage(station_id="st-01", online=True, boot_id="b1", seq=3, backlog=4,
                      sent_at=datetime(2026, 3, 1, tzinfo=UTC))  # fmt: skip
    assert decode(encode(s)) == s
    assert to_dict(s)["schema"] == "hk.status/1"


def test_the_clock_state_is_an_optional_addition_to_readings_and_statuses() -> None:
    old = decode(json.dumps(reading()))  # from a station that does not say
    assert isinstance(old, ReadingMessage) and old.clock_synced is None
    marked = decode(json.dumps(reading(clock_synced=False)))
    assert isinstance(marked, ReadingMessage) and marked.clock_synced is False
    assert decode(encode(marked)) == marked
    with pytest.raises(SchemaError) as info:
        decode(json.dumps(reading(clock_synced="perhaps")))
    assert info.value.reason == "invalid" and "clock_synced" in str(info.value)
    s = StatusMessage(
        station_id="st-01", online=True, boot_id="b1", seq=3, clock_synced=False,
        clock_source="adjtimex", clock_max_error_s=16.0,
        clock_last_sync=datetime(2026, 3, 1, tzinfo=UTC),
    )  # fmt: skip
    assert decode(encode(s)) == s
    bare = decode(encode(StatusMessage(station_id="st-01", online=True, boot_id="b1", seq=4)))
    assert isinstance(bare, StatusMessage) and bare.clock_synced is None


@settings(max_examples=100, deadline=None)
@given(
    systolic=st.integers(70, 300),
    diastolic=st.integers(40, 180),
    pulse=st.none() | st.integers(30, 220),
    offset=st.integers(-12 * 60, 14 * 60),
    seq=st.integers(0, 2**31 - 1),  # the follow-up column is 32-bit (issue 19)
)
def test_blood_pressure_round_trip_property(
    systolic: int, diastolic: int, pulse: int | None, offset: int, seq: int
) -> None:
    at = datetime(2026, 3, 1, 8, 0, tzinfo=timezone(timedelta(minutes=offset)))
    doc = reading(
        station_seq=seq,
        measured_at=at.isoformat(),
        values={"systolic": systolic, "diastolic": diastolic, "pulse": pulse},
    )
    msg = decode(json.dumps(doc))
    assert isinstance(msg, ReadingMessage)
    assert decode(encode(msg)) == msg and msg.measured_at == at and msg.uuid == UUID(doc["uuid"])


@settings(max_examples=100, deadline=None)
@given(
    value=st.floats(0, 100, allow_nan=False).map(lambda v: round(v, 1)),
    meal=st.sampled_from(["fasting", "after_meal", "random"]),
    unit=st.sampled_from(["mmol/L", "mg/dL"]),
)
def test_glucose_round_trip_property(value: float, meal: str, unit: str) -> None:
    doc = reading(
        kind="glucose",
        values={
            "mmol_per_l": value,
            "meal_context": meal,
            "original_value": value * 18.016,
            "original_unit": unit,
        },
        classification={"category": "normal", "urgent": False},
    )
    msg = decode(json.dumps(doc))
    assert isinstance(msg, ReadingMessage) and isinstance(msg.values, GlucoseValues)
    assert decode(encode(msg)) == msg and msg.values.mmol_per_l == value


# --- additions within version 1 (#14): the rule set, device events ---------------------

DIGEST = "ab" * 32


def device_event(**values: Any) -> dict[str, Any]:
    event = {
        "event": "implausible_value",
        "measurement": "glucose",
        "reason": "glucose_out_of_range",
        "mmol_per_l": 0.9,
        "meal_context": "random",
        "original_value": 0.9,
        "original_unit": "mmol/L",
    }
    event.update(values)
    doc = reading(kind="device_event", values=event)
    del doc["classification"]
    return doc


def test_a_classification_names_the_rule_set_that_made_it() -> None:
    rules = {"name": "cn2018_home", "digest": DIGEST}
    doc = reading(classification={"category": "grade_1", "urgent": False, "rules": rules})
    msg = decode(json.dumps(doc))
    assert isinstance(msg, ReadingMessage) and msg.classification is not None
    assert msg.classification.rules is not None
    assert (msg.classification.rules.name, msg.classification.rules.digest) == (
        "cn2018_home",
        DIGEST,
    )
    assert decode(encode(msg)) == msg
    # a sender older than the field: still a valid reading, the rule set unknown
    old = decode(json.dumps(reading()))
    assert isinstance(old, ReadingMessage) and old.classification is not None
    assert old.classification.rules is None


@pytest.mark.parametrize("digest", ["AB" * 32, "ab" * 31, "zz" * 32, ""])
def test_a_rule_set_digest_is_64_lowercase_hex_digits(digest: str) -> None:
    rules = {"name": "x", "digest": digest}
    doc = reading(classification={"category": "normal", "urgent": False, "rules": rules})
    with pytest.raises(SchemaError, match=r"classification\.rules\.digest"):
        decode(json.dumps(doc))


def test_a_device_event_travels_as_a_reading_of_its_own_kind() -> None:
    msg = decode(json.dumps(device_event()))
    assert isinstance(msg, ReadingMessage)
    assert msg.kind == "device_event" and msg.classification is None
    assert isinstance(msg.values, DeviceEventValues)
    assert (msg.values.measurement, msg.values.reason, msg.values.mmol_per_l) == (
        "glucose",
        "glucose_out_of_range",
        0.9,
    )
    assert decode(encode(msg)) == msg
    bp = decode(
        json.dumps(
            device_event(
                measurement="blood_pressure", reason="systolic_out_of_range", systolic=320,
                diastolic=90, pulse=70, mmol_per_l=None, meal_context=None,
                original_value=None, original_unit=None,
            )
        )
    )  # fmt: skip
    assert isinstance(bp, ReadingMessage) and isinstance(bp.values, DeviceEventValues)
    assert (bp.values.systolic, bp.values.diastolic) == (320, 90)


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        (device_event(mmol_per_l=None), "glucose event gives mmol_per_l"),
        (device_event(measurement="blood_pressure"), "systolic and diastolic"),
        (device_event(reason="because"), "values.reason"),
        (device_event(event="battery_low"), "values.event"),
        ({**device_event(), "classification": {"category": "very_low", "urgent": True}},
         "not classified"),
        ({k: v for k, v in reading().items() if k != "classification"}, "needs its classification"),
    ],
)  # fmt: skip
def test_a_device_event_is_checked_like_a_reading(doc: dict[str, Any], where: str) -> None:
    with pytest.raises(SchemaError, match=where):
        decode(json.dumps(doc))


def test_a_device_event_value_must_be_finite() -> None:
    payload = json.dumps(device_event(mmol_per_l=float("inf")))  # Infinity: not JSON, but sent
    with pytest.raises(SchemaError):
        decode(payload)


def test_a_config_document_may_carry_the_digest_of_its_rules() -> None:
    doc = DesiredConfig(
        scope="station", target="st-01", version=3,
        settings={"rules": {"blood_pressure": {"profile": "cn2018_home"}}},
        issued_at=datetime(2026, 3, 1, tzinfo=UTC), rules_digest=DIGEST,
    )  # fmt: skip
    assert decode(encode(doc)) == doc
    raw = to_dict(doc)
    raw["rules_digest"] = "not-a-digest"
    with pytest.raises(SchemaError, match="rules_digest"):
        decode(json.dumps(raw))
