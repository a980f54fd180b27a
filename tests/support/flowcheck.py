"""Comparing the follow-up database with the kiosk's store, field by field."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.db.models import Reading as FReading
from followup.db.models import Station
from followup.ingest.store import stored_payload
from sync.schema import BloodPressureValues
from sync.store.db import open_store
from sync.store.models import Reading as KReading
from sync.store.wire import to_message


def followup_count(url: str) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            try:
                return int(s.scalar(select(func.count()).select_from(FReading)) or 0)
            except Exception:
                return 0
    finally:
        engine.dispose()


def station_row(url: str, station: str) -> Station | None:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            try:
                return s.get(Station, station)
            except Exception:
                return None
    finally:
        engine.dispose()


def wait_until(pred: Any, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())


def assert_same_readings(store: Path, url: str, station: str, expected: int) -> None:
    """The follow-up database holds exactly the kiosk's readings, equal field by field."""
    sessions = open_store(store)
    engine = make_engine(url)
    try:
        with sessions() as ks:
            # As the doctor's side keeps it: the ID number masked (issue 19).
            kiosk = {
                r.uuid: stored_payload(to_message(r, station)) for r in ks.scalars(select(KReading))
            }
            krows = {r.uuid: r for r in ks.scalars(select(KReading))}
        with Session(engine) as fs:
            rows = list(fs.scalars(select(FReading)))
            assert len(rows) == expected, f"followup holds {len(rows)} readings, not {expected}"
            assert len({r.uuid for r in rows}) == expected
            assert set(kiosk) == {r.uuid for r in rows}
            for r in rows:
                want = kiosk[r.uuid]
                k = krows[r.uuid]
                assert r.payload == want, r.uuid
                assert r.station_id == station
                assert r.station_seq == k.station_seq
                assert r.kind == k.kind
                assert r.measured_at == k.measured_at
                assert r.device_time == k.device_time
                assert r.received_at is not None
                msg_values = want["values"]
                if k.kind == "blood_pressure":
                    assert (r.systolic_mmhg, r.diastolic_mmhg, r.pulse_bpm) == (
                        k.systolic_mmhg,
                        k.diastolic_mmhg,
                        k.pulse_bpm,
                    )
                    assert r.mean_arterial_mmhg == k.mean_arterial_mmhg
                    assert r.irregular_pulse == k.irregular_pulse
                    BloodPressureValues.model_validate(msg_values)
                else:
                    assert r.glucose_mmol_per_l == k.glucose_mmol_per_l
                    assert r.meal_context == k.meal_context
                assert (r.category, r.urgent, r.isolated_systolic) == (
                    k.category,
                    k.urgent,
                    k.isolated_systolic,
                )
                assert (r.device_model, r.device_serial, r.software_version) == (
                    k.device_model,
                    k.device_serial,
                    k.software_version,
                )
    finally:
        sessions.kw["bind"].dispose()
        engine.dispose()
