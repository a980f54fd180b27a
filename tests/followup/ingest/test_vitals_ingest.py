"""Weight with BMI, SpO2 and temperature on the doctor's side: the ingest
stores their values in their columns and classifies them again with its own
rules; an SpO2 below 90 % makes the resident urgent (as an urgent blood
pressure does) and its alert says the value; a fever is abnormal; a BMI alone
is not on the list; the FHIR export codes them with LOINC."""

from __future__ import annotations

import uuid as uuidlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from followup.alerts.urgent import alert_payload
from followup.db.engine import make_engine
from followup.db.models import Reading, Resident, Station
from followup.db.status_store import refresh_residents
from followup.ingest.store import IngestStore
from followup.web.fhir_export import readings_bundle
from followup.web.listing import ListFilters, fetch_list
from healthkiosk.rules import load_rules
from sync.schema import ReadingMessage, from_dict
from tests.support.synckit import id_number
from tests.support.web import DISTRICT

AT = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def message(kind: str, values: dict[str, Any], category: str, urgent: bool, *, who: int,
            seq: int, born: str = "1948-06-12", at: datetime = AT) -> ReadingMessage:  # fmt: skip
    msg = from_dict(
        {
            "schema": "hk.reading/1",
            "uuid": str(uuidlib.uuid4()),
            "station_id": "st-1",
            "station_seq": seq,
            "resident": {"id_number": id_number(who), "birth_date": born},
            "kind": kind,
            "measured_at": at.isoformat(),
            "values": values,
            "device": {"model": f"{kind}-EMU-1", "serial": "S1", "transport": "ble"},
            "classification": {"category": category, "urgent": urgent},
            "software_version": "t",
            "clock_synced": True,
        }
    )
    assert isinstance(msg, ReadingMessage)
    return msg


WEIGHT = {"weight_kg": 68.4, "height_m": 1.65, "height_source": "keypad", "bmi": 25.1}
SPO2_LOW = {"spo2_percent": 88, "pulse": 104}
FEVER = {"celsius": 38.4, "site": "armpit"}


def test_stored_classified_listed_alerted_and_exported(followup_url: str) -> None:
    engine = make_engine(followup_url)
    rules = load_rules({})
    try:
        store = IngestStore(engine, key=b"k" * 32, tz=DISTRICT, rules=rules)
        msgs = [
            message("weight", WEIGHT, "overweight", False, who=1, seq=1),
            message("spo2", SPO2_LOW, "very_low", True, who=1, seq=2),
            message("temperature", FEVER, "fever", False, who=2, seq=3),
            message("weight", WEIGHT, "overweight", False, who=3, seq=4),
            # a high fever: urgent for an elder, not for someone of 30
            message("temperature", {"celsius": 39.6}, "high_fever", True, who=4, seq=5),
            message("temperature", {"celsius": 39.6}, "high_fever", False, who=5, seq=6,
                    born="1996-01-01"),
        ]  # fmt: skip
        store.store(msgs, [], received_at=AT + timedelta(seconds=2))
        store.store(msgs[:1], [], received_at=AT + timedelta(seconds=3))  # a duplicate
        with Session(engine) as s:
            rows = {
                r.station_seq: r for r in s.scalars(select(Reading).order_by(Reading.station_seq))
            }
            assert len(rows) == 6
            w, o, t = rows[1], rows[2], rows[3]
            assert (w.kind, w.weight_kg, w.height_m, w.bmi) == ("weight", 68.4, 1.65, 25.1)
            assert (w.server_category, w.server_urgent) == ("overweight", False)
            assert (o.spo2_percent, o.pulse_bpm, o.server_category, o.server_urgent) == (
                88, 104, "very_low", True,
            )  # fmt: skip
            assert (t.temperature_c, t.temperature_site, t.server_category) == (
                38.4, "armpit", "fever",
            )  # fmt: skip
            assert o.systolic_mmhg is None and o.glucose_mmol_per_l is None
            assert (rows[5].server_urgent, rows[6].server_urgent) == (True, False)

            ids = {r.station_seq: r.resident_id for r in rows.values()}
            refreshed = {
                x.resident_id: x
                for x in refresh_residents(s, set(ids.values()), rules=rules, now=AT, tz=DISTRICT)
            }
            first = refreshed[ids[1]]
            assert first.status.status == "urgent"  # the SpO2, not the weight
            assert first.status.trigger is not None and first.status.trigger.uuid == o.uuid
            assert first.urgent_readings == (o.uuid,)
            assert refreshed[ids[3]].status.status == "abnormal"
            assert refreshed[ids[4]].status.status == "fine"  # a BMI alone
            assert refreshed[ids[5]].status.status == "urgent"
            assert refreshed[ids[6]].status.status == "abnormal"
            s.commit()

            # The list, filtered by what put each resident on it.
            def listed(kind: str) -> dict[str, set[int]]:
                got = fetch_list(s, ListFilters(kind=kind), now=AT, tz=DISTRICT, rules=rules)
                return {k: {r.resident_id for r in v} for k, v in got.sections.items() if v}

            assert listed("spo2") == {"urgent": {ids[1]}}
            assert listed("temperature") == {"urgent": {ids[5]}, "abnormal": {ids[3], ids[6]}}
            assert listed("blood_pressure") == {}

            payload = alert_payload(o, raised_at=AT + timedelta(seconds=5))
            assert payload["summary"] == "SpO2 88 %, pulse 104"
            assert payload["kind"] == "spo2"

            resident = s.get(Resident, ids[1])
            assert resident is not None
            bundle = readings_bundle(
                resident, [w, o], {st.id: st for st in s.scalars(select(Station))},
                rules=rules, now=AT,
            )  # fmt: skip
            fever = readings_bundle(
                s.get(Resident, ids[3]),
                [t],
                {},
                rules=rules,
                now=AT,  # type: ignore[arg-type]
            )
    finally:
        engine.dispose()
    obs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    codes = {o["code"]["coding"][0]["code"]: o for o in obs}
    assert set(codes) == {"29463-7", "39156-5", "8302-2", "59408-5", "8867-4"}
    assert codes["29463-7"]["valueQuantity"] == {
        "value": 68.4, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg",
    }  # fmt: skip
    assert codes["39156-5"]["valueQuantity"]["value"] == 25.1
    assert codes["39156-5"]["valueQuantity"]["code"] == "kg/m2"
    assert codes["39156-5"]["interpretation"][0]["coding"][0]["code"] == "H"
    assert "interpretation" not in codes["29463-7"]
    assert codes["8302-2"]["valueQuantity"]["value"] == 1.65
    assert codes["59408-5"]["valueQuantity"]["value"] == 88
    assert codes["59408-5"]["valueQuantity"]["code"] == "%"
    assert codes["59408-5"]["interpretation"][0]["coding"][0]["code"] == "LL"
    assert codes["8867-4"]["valueQuantity"]["value"] == 104
    # every observation of one reading is told apart by its identifier
    assert len({o["identifier"][0]["value"] + o["identifier"][0]["system"] for o in obs}) == 5
    (temp,) = [
        e["resource"] for e in fever["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    assert temp["code"]["coding"][0]["code"] == "8310-5"
    assert temp["valueQuantity"]["code"] == "Cel" and temp["valueQuantity"]["value"] == 38.4
    assert temp["bodySite"] == {"text": "armpit"}
    assert temp["interpretation"][0]["coding"][0]["code"] == "H"


def test_an_age_is_counted_on_the_districts_day(followup_url: str) -> None:
    """A high fever at 01:00 in Beijing on a resident's birthday is a fever at
    the elder's age of that day (urgent), though it is still the day before in UTC."""
    rules = load_rules({})
    elder = rules.temperature.high_fever_urgent_from_age
    at = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)  # 2026-12-08 01:00 in Beijing
    assert at.astimezone(DISTRICT).date() == date(2026, 12, 8)
    born = date(2026 - elder, 12, 8).isoformat()
    fever = {"celsius": 39.6}
    engine = make_engine(followup_url)
    try:
        msgs = [message("temperature", fever, "high_fever", True, who=7, seq=1, born=born, at=at)]
        IngestStore(engine, key=b"k" * 32, rules=rules, tz=DISTRICT).store(
            msgs, [], received_at=at + timedelta(seconds=2)
        )
        with Session(engine) as s:
            (row,) = s.scalars(select(Reading)).all()
            assert (row.server_category, row.server_urgent) == ("high_fever", True)
        # Counted in UTC, the same reading would be a day short of the age.
        with Session(engine) as s, s.begin():
            s.execute(delete(Reading))
        IngestStore(engine, key=b"k" * 32, rules=rules, tz=UTC).store(
            msgs, [], received_at=at + timedelta(seconds=2)
        )
        with Session(engine) as s:
            (row,) = s.scalars(select(Reading)).all()
            assert row.server_urgent is False
    finally:
        engine.dispose()
