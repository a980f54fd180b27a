"""One meaning on the doctor's side (issue #14, findings 5, 6 and 9).

Readings go in through the real ingest store (the path the MQTT ingest takes),
the status is refreshed with the doctor's side's rules, and the pages are read
as a doctor reads them.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from followup.db.models import Reading, Resident
from followup.db.status import ResidentStatusRow
from followup.db.status_store import refresh_residents
from followup.ingest.check import check_readings
from followup.ingest.store import IngestStore, id_hash
from healthkiosk.rules import load_rules
from sync.schema import ReadingMessage, encode, from_dict
from tests.support.synckit import id_number
from tests.support.web import DISTRICT, World

KEY = b"k" * 32
SERVER = load_rules()  # the doctor's side runs the office thresholds (cn2018)
HOME_RULES = {"blood_pressure": {"profile": "cn2018_home"}}


def rule_set(rules: dict[str, Any] | None = None) -> Any:
    """The rule set's name and digest (imported here: it is what #14 adds)."""
    from healthkiosk.rules import rule_set_id

    return rule_set_id(load_rules(rules))


def message(kind: str, values: dict[str, Any], classification: dict[str, Any] | None, *,
            who: int, at: datetime, seq: int) -> ReadingMessage:  # fmt: skip
    doc: dict[str, Any] = {
        "schema": "hk.reading/1",
        "uuid": str(uuidlib.uuid4()),
        "station_id": "st-001",
        "station_seq": seq,
        "resident": {"id_number": id_number(who), "name": f"Resident {who}"},
        "kind": kind,
        "measured_at": at.isoformat(),
        "values": values,
        "device": {"model": "BP-7000", "transport": "ble"},
        "software_version": "0.9.0",
    }
    if classification is not None:
        doc["classification"] = classification
    msg = from_dict(doc)
    assert isinstance(msg, ReadingMessage)
    return msg


def ingest(world: World, *msgs: ReadingMessage) -> int:
    """Through the ingest's check and store, then the status refresh; the resident's id."""
    for msg in msgs:
        checked = check_readings("hk/v1/st/st-001/readings", encode(msg), max_bytes=512 * 1024)
        assert checked.rejections == [] and checked.readings == [msg]
    # the ingest's rules: the configured ones, here the shipped defaults (SERVER)
    IngestStore(world.engine, key=KEY, tz=DISTRICT).store(list(msgs), [], received_at=world.now)
    want = id_hash(KEY, msgs[0].resident.id_number)
    with Session(world.engine) as s, s.begin():
        rid = s.scalars(select(Resident.id).where(Resident.id_hash == want)).one()
        refresh_residents(s, [rid], rules=SERVER, now=world.now, tz=DISTRICT)
    return rid


def sections(page: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in re.finditer(r'<section id="section-(\w+)">(.*?)</section>', page, re.S):
        out[m.group(1)] = re.findall(r'data-resident="(\d+)"', m.group(2))
    return out


def row_of(page: str, rid: int) -> str:
    m = re.search(rf'<tr class="\w+" data-resident="{rid}">(.*?)</tr>', page, re.S)
    assert m, f"resident {rid} is not on the list"
    return m.group(1)


def test_home_bp_station_136_86_shows_both_meanings_and_the_list_uses_the_servers(
    doctor: TestClient, world: World
) -> None:
    """The issue's example: a station on the home-BP profile tells the elder
    136/86 is higher than normal (grade 1 from 135/85); the doctor's side's
    office rules call it high normal. The page shows both, side by side; the
    list follows the doctor's side's rules (high normal: not on the list)."""
    home = rule_set(HOME_RULES)
    msg = message(
        "blood_pressure", {"systolic": 136, "diastolic": 86, "pulse": 70},
        {"category": "grade_1", "urgent": False, "rule": "bp.grade_1.systolic",
         "rules": home.as_dict()},
        who=501, at=world.now - timedelta(minutes=5), seq=1,
    )  # fmt: skip
    rid = ingest(world, msg)
    with Session(world.engine) as s:
        r = s.get(Reading, str(msg.uuid))
        assert r is not None
        assert (r.category, r.kiosk_rules_name, r.kiosk_rules_digest) == (
            "grade_1", "cn2018_home", home.digest,
        )  # fmt: skip
        assert (r.server_category, r.server_urgent) == ("high_normal", False)
        assert r.server_rules_digest == rule_set().digest != home.digest
        status = s.get(ResidentStatusRow, rid)
        assert status is not None and status.level == 0  # the server's meaning: fine
    page = doctor.get(f"/residents/{rid}").text
    row = page[page.index(f'data-uuid="{msg.uuid}"') :].split("</tr>", 1)[0]
    assert 'data-kiosk-category="grade_1"' in row and 'data-list-category="high_normal"' in row
    # (an English page: the guideline's names in both languages; test_web_chinese.py
    # has the Chinese page)
    words = re.sub(r"<[^>]+>", "", row)  # (codes are marked translate="no")
    assert "kiosk said: 1级高血压 grade 1" in words
    assert f"cn2018_home rules {home.short}" in words
    assert "the list says: 正常高值 high normal" in words
    listed = sections(doctor.get("/list").text)
    assert not any(str(rid) in ids for ids in listed.values())


def test_a_reading_both_sides_agree_on_shows_one_meaning(doctor: TestClient, world: World) -> None:
    msg = message(
        "blood_pressure", {"systolic": 150, "diastolic": 95, "pulse": 70},
        {"category": "grade_1", "urgent": False, "rules": rule_set().as_dict()},
        who=502, at=world.now - timedelta(minutes=5), seq=2,
    )  # fmt: skip
    rid = ingest(world, msg)
    page = doctor.get(f"/residents/{rid}").text
    row = page[page.index(f'data-uuid="{msg.uuid}"') :].split("</tr>", 1)[0]
    assert "1级高血压 grade 1" in row and "kiosk said" not in row


def test_118_76_with_an_irregular_pulse_is_on_the_list_for_a_rhythm_check(
    doctor: TestClient, world: World
) -> None:
    """Finding 5: on main the list called it fine."""
    msg = message(
        "blood_pressure",
        {"systolic": 118, "diastolic": 76, "pulse": 88, "irregular_pulse": True},
        {"category": "normal", "urgent": False},
        who=503, at=world.now - timedelta(minutes=5), seq=3,
    )  # fmt: skip
    rid = ingest(world, msg)
    page = doctor.get("/list").text
    assert str(rid) in sections(page)["abnormal"]
    row = row_of(page, rid)
    assert "BP 118/76 mmHg, irregular pulse" in row
    assert "心律检查 / rhythm check: irregular pulse at 118/76 mmHg" in row
    resident = doctor.get(f"/residents/{rid}").text
    assert "心律检查 / rhythm check" in resident and "(irregular pulse)" in resident


def test_a_value_outside_the_plausible_range_reaches_the_doctor_as_a_device_event(
    doctor: TestClient, world: World
) -> None:
    """Finding 9: 0.9 mmol/L on a meter that reads down to 0.6 is not a reading,
    and not silence: the resident page says "could not measure: 0.9 mmol/L
    reported" and the list has the resident for review; no trend point, no
    FHIR observation."""
    event = message(
        "device_event",
        {"event": "implausible_value", "measurement": "glucose", "reason": "glucose_out_of_range",
         "mmol_per_l": 0.9, "meal_context": "random", "original_value": 0.9,
         "original_unit": "mmol/L"},
        None, who=504, at=world.now - timedelta(minutes=5), seq=4,
    )  # fmt: skip
    rid = ingest(world, event)
    with Session(world.engine) as s:
        r = s.get(Reading, str(event.uuid))
        assert r is not None and r.kind == "device_event" and r.glucose_mmol_per_l is None
        assert r.event is not None and r.event["mmol_per_l"] == 0.9
    page = doctor.get("/list").text
    assert str(rid) in sections(page)["abnormal"]
    row = row_of(page, rid)
    assert "glucose: 0.9 mmol/L reported" in row
    assert "无法测量 / could not measure: 0.9 mmol/L reported (glucose out of range)" in row
    resident = doctor.get(f"/residents/{rid}").text
    assert "could not measure: 0.9 mmol/L reported" in resident
    assert "Blood glucose trend" not in resident  # nothing to draw
    bundle = doctor.get(f"/residents/{rid}/fhir.json").json()
    assert [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"] == []


def test_a_glucose_meter_hi_or_lo_is_urgent_on_the_list_and_not_a_zero_on_the_chart(
    doctor: TestClient, world: World
) -> None:
    hi = message(
        "glucose", {"mmol_per_l": None, "out_of_range": "HI", "meal_context": "random"},
        {"category": "very_high", "urgent": True, "rule": "glucose.meter_hi"},
        who=505, at=world.now - timedelta(minutes=5), seq=5,
    )  # fmt: skip
    rid = ingest(world, hi)
    page = doctor.get("/list").text
    assert str(rid) in sections(page)["urgent"]
    assert "glucose HI (random)" in row_of(page, rid)
    resident = doctor.get(f"/residents/{rid}").text
    svg = resident[resident.index("Blood glucose trend") :].split("</svg>", 1)[0]
    assert 'class="meter-hi"' in svg and ">HI<" in svg
    with Session(world.engine) as s:
        r = s.get(Reading, str(hi.uuid))
        assert r is not None and (r.server_category, r.server_urgent) == ("very_high", True)


def test_a_reading_from_a_kiosk_older_than_the_rule_set_field_is_still_taken(
    doctor: TestClient, world: World
) -> None:
    msg = message(
        "glucose", {"mmol_per_l": 7.4, "meal_context": "fasting"},
        {"category": "high", "urgent": False},
        who=506, at=datetime.now(UTC) - timedelta(minutes=5), seq=6,
    )  # fmt: skip
    rid = ingest(world, msg)
    with Session(world.engine) as s:
        r = s.get(Reading, str(msg.uuid))
        assert r is not None and r.kiosk_rules_digest is None and r.server_category == "high"
    assert doctor.get(f"/residents/{rid}").status_code == 200
