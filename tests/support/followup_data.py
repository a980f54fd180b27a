"""Building follow-up data through the real models (as the ingest would store it)."""

from __future__ import annotations

import hashlib
import itertools
import uuid as uuidlib
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from followup.db.models import Reading, Resident, Station
from healthkiosk.idnumber import mask
from healthkiosk.rules import RulesConfig, classify_blood_pressure, classify_glucose, load_rules

_seq = itertools.count(1)
RULES = load_rules()


def id_number(n: int, birth: date) -> str:
    """An 18-character ID-number-shaped string (check digit not needed here)."""
    return f"110101{birth:%Y%m%d}{n % 1000:03d}X"


def add_station(session: Session, sid: str = "st-001", name: str = "East station") -> Station:
    st = Station(id=sid, name=name, area="East", group="default", online=True)
    session.add(st)
    session.flush()
    return st


def add_resident(
    session: Session,
    *,
    name: str,
    birth: date = date(1955, 5, 1),
    sex: str = "female",
    phone: str | None = "13800000000",
    area: str | None = "Village A",
    hypertension: bool = False,
    diabetes: bool = False,
    station: str = "st-001",
    now: datetime | None = None,
) -> Resident:
    n = next(_seq)
    idn = id_number(n, birth)
    at = now or datetime.now(UTC)
    r = Resident(
        id_hash=hashlib.sha256(idn.encode()).hexdigest(),
        id_number=idn,
        id_masked=mask(idn),
        name=name,
        sex=sex,
        birth_date=birth,
        phone=phone,
        area=area,
        hypertension_programme=hypertension,
        diabetes_programme=diabetes,
        home_station_id=station,
        created_at=at,
        updated_at=at,
    )
    session.add(r)
    session.flush()
    return r


def add_reading(
    session: Session,
    resident: Resident,
    *,
    measured_at: datetime,
    systolic: int | None = None,
    diastolic: int | None = None,
    pulse: int | None = 72,
    glucose: float | None = None,
    meal: str = "random",
    received_at: datetime | None = None,
    station: str = "st-001",
    rules: RulesConfig = RULES,
    uuid: str | None = None,
) -> Reading:
    if systolic is not None and diastolic is not None:
        c = classify_blood_pressure(systolic, diastolic, rules.blood_pressure)
        kind = "blood_pressure"
        extra: dict[str, Any] = {
            "systolic_mmhg": systolic,
            "diastolic_mmhg": diastolic,
            "pulse_bpm": pulse,
            "device_model": "Omron HEM-7361T",
        }
    else:
        assert glucose is not None
        c = classify_glucose(glucose, "fasting" if meal == "fasting" else "random", rules.glucose)
        kind = "glucose"
        extra = {
            "glucose_mmol_per_l": glucose,
            "meal_context": meal,
            "device_model": "Sinocare GA-3",
        }
    r = Reading(
        uuid=uuid or str(uuidlib.uuid4()),
        station_id=station,
        station_seq=next(_seq),
        resident_id=resident.id,
        kind=kind,
        measured_at=measured_at,
        received_at=received_at or measured_at,
        category=c.category,
        urgent=c.urgent,
        isolated_systolic=c.isolated_systolic,
        software_version="0.1.0",
        device_serial="SN-1",
        payload={"schema": "hk.reading/1"},
        **extra,
    )
    session.add(r)
    session.flush()
    return r
