"""Test data for the store: valid ID numbers, readings, configs, bulk rows."""

from __future__ import annotations

import random
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from healthkiosk.idnumber import check_character, parse
from healthkiosk.readings import DeviceInfo, Transport
from sync.schema import (
    BloodPressureValues,
    GlucoseValues,
    WireBpMeasurement,
    WireClassification,
    WireDevice,
)
from sync.store import meta, wire
from sync.store.idhash import IdHasher
from sync.store.models import Meta, OutboxEntry, Reading, Resident
from sync.store.readings import save_reading
from sync.store.records import NewReading, ResidentDetails, SavedReading

REPO = Path(__file__).resolve().parents[2]
STATION = "test-station-01"
T0 = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)

MONITOR = DeviceInfo(
    model="BP-7000",
    transport=Transport.BLE,
    manufacturer="Acme",
    serial="SN123",
    firmware="1.2.3",
    address="AA:BB:CC:DD:EE:FF",
)
METER = DeviceInfo(model="GM-55", transport=Transport.SERIAL, manufacturer="Acme", serial="G9")


def make_id(*, region: str = "110101", born: date = date(1950, 1, 31), seq: int = 1) -> str:
    first17 = f"{region}{born:%Y%m%d}{seq:03d}"
    return first17 + check_character(first17)


def resident(number: str | None = None, *, name: str | None = "张三") -> ResidentDetails:
    n = parse(number or make_id())
    return ResidentDetails(id_number=n, name=name, sex=n.sex.value, birth_date=n.birth_date)


def bp_average(
    pairs: Sequence[tuple[int, int, int | None]] = ((142, 91, 70), (138, 89, 72)),
    *,
    start: datetime = T0,
    irregular: bool = False,
) -> BloodPressureValues:
    """An averaged reading of measurements 45 s apart (the device's clock 3 s behind)."""
    n = len(pairs)
    pulses = [p for _, _, p in pairs if p is not None]
    return BloodPressureValues(
        systolic=round(sum(s for s, _, _ in pairs) / n),
        diastolic=round(sum(d for _, d, _ in pairs) / n),
        pulse=round(sum(pulses) / len(pulses)) if pulses else None,
        irregular_pulse=irregular,
        measurements=[
            WireBpMeasurement(
                systolic=s,
                diastolic=d,
                pulse=p,
                measured_at=start + timedelta(seconds=45 * i),
                device_time=start + timedelta(seconds=45 * i - 3),
                irregular_pulse=irregular and i == 0,
            )
            for i, (s, d, p) in enumerate(pairs)
        ],
    )


def glucose(
    mmol: float = 6.4,
    *,
    meal: Literal["fasting", "after_meal", "random"] = "fasting",
    out_of_range: Literal["LO", "HI"] | None = None,
) -> GlucoseValues:
    return GlucoseValues(
        mmol_per_l=None if out_of_range else mmol,
        meal_context=meal,
        original_value=None if out_of_range else round(mmol * 18.016, 1),
        original_unit="mg/dL",
        out_of_range=out_of_range,
    )


BP_CLASS = WireClassification(
    category="grade_1", urgent=False, isolated_systolic=False, rule="bp.g1"
)
GLU_CLASS = WireClassification(category="normal", urgent=False, rule="glucose.fasting.normal")


def wire_device(info: DeviceInfo) -> WireDevice:
    return WireDevice(
        model=info.model,
        manufacturer=info.manufacturer,
        serial=info.serial,
        firmware=info.firmware,
        transport=info.transport.value,
    )


def new_reading(
    values: BloodPressureValues | GlucoseValues | None = None,
    *,
    who: ResidentDetails | None = None,
    classification: WireClassification | None = None,
    measured_at: datetime | None = None,
    visit_uuid: str | None = None,
    station_seq: int | None = None,
    clock_synced: bool | None = None,
) -> NewReading:
    """A completed reading: blood pressure measured when its last measurement
    came (device time 3 s before), glucose at ``T0`` (device time ``T0``)."""
    values = values if values is not None else bp_average()
    if isinstance(values, BloodPressureValues):
        last = values.measurements[-1] if values.measurements else None
        default_at = last.measured_at if last else T0
        device_time = last.device_time if last else None
        device, default_class = MONITOR, BP_CLASS
    else:
        default_at, device_time, device, default_class = T0, T0, METER, GLU_CLASS
    return NewReading(
        uuid=uuid.uuid4(),
        resident=who or resident(),
        measured_at=measured_at or default_at,
        device_time=device_time,
        values=values,
        device=wire_device(device),
        classification=classification or default_class,
        visit_uuid=visit_uuid,
        station_seq=station_seq,
        clock_synced=clock_synced,
    )


def save(
    factory: sessionmaker[Session],
    hasher: IdHasher,
    values: BloodPressureValues | GlucoseValues | None = None,
    *,
    min_free_mb: int = 1,
    **kw: Any,
) -> SavedReading:
    """The one save path (:func:`sync.store.readings.save_reading`) on a new reading."""
    return save_reading(
        factory, hasher=hasher, reading=new_reading(values, **kw), min_free_mb=min_free_mb
    )


def write_config(tmp: Path, *, station: str = STATION, **store: Any) -> Path:
    """A station config with its data dir and store under ``tmp``."""
    lines = [
        "[station]",
        f'id = "{station}"',
        f'data_dir = "{tmp / "data"}"',
        'timezone = "Asia/Shanghai"',
        "[store]",
        f'path = "{tmp / "data" / "kiosk.sqlite"}"',
    ]
    lines += [f"{k} = {v!r}" for k, v in store.items()]
    path = tmp / "healthkiosk.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "healthkiosk", *args]


CATEGORIES_BP = ["low", "normal", "high_normal", "grade_1", "grade_2", "grade_3"]
CATEGORIES_GLU = ["very_low", "normal", "impaired_fasting", "above_normal", "high", "very_high"]


def bulk_fill(
    factory: sessionmaker[Session],
    hasher: IdHasher,
    *,
    count: int,
    residents: int = 200,
    seed: int = 20261125,
    delivered_every: int = 3,
) -> None:
    """``count`` varied readings (blood pressure and glucose, LO/HI, units,
    missing optional fields) with outbox rows, inserted in bulk."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    people = []
    for i in range(residents):
        number = parse(
            make_id(
                region=rng.choice(["110101", "310104", "440305", "510107"]),
                born=date(1930, 1, 1) + timedelta(days=rng.randrange(30000)),
                seq=i % 1000,
            )
        )
        people.append(
            {
                "id": i + 1,
                "id_hash": hasher.hash(number),
                "id_number": number.value,
                "id_masked": number.masked,
                "name": rng.choice([None, "王秀英", "李建国", "Zhang Wei"]),
                "sex": number.sex.value,
                "birth_date": rng.choice([None, number.birth_date]),
                "first_seen": T0,
                "last_seen": T0,
            }
        )
    readings: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    for n in range(count):
        at = T0 + timedelta(minutes=7 * n, microseconds=rng.randrange(1_000_000))
        row: dict[str, Any] = {
            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "station_seq": n + 1,
            "resident_id": rng.randrange(residents) + 1,
            "visit_id": None,
            "measured_at": at,
            "device_time": rng.choice([None, at - timedelta(seconds=rng.randrange(600))]),
            "device_model": rng.choice(["BP-7000", "GM-55", "HEM-7600T"]),
            "device_manufacturer": rng.choice(["", "Acme", "OMRON"]),
            "device_serial": rng.choice(["", "SN123", "X-9"]),
            "device_firmware": rng.choice(["", "1.2.3"]),
            "device_transport": rng.choice(["ble", "serial", "emulated"]),
            "urgent": rng.random() < 0.1,
            "close_to_limit": rng.random() < 0.2,
            "rule": rng.choice([None, "bp.grade_1.systolic", "glucose.fasting.high"]),
            "software_version": "0.1.0",
            "created_at": now,
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
            "isolated_systolic": None,
        }
        if rng.random() < 0.6:
            ms = [
                wire.measurement_dict(
                    WireBpMeasurement(
                        systolic=rng.randrange(95, 200),
                        diastolic=rng.randrange(55, 110),
                        pulse=rng.choice([None, rng.randrange(50, 110)]),
                        measured_at=at - timedelta(seconds=45 * k),
                        device_time=rng.choice([None, at - timedelta(seconds=45 * k + 2)]),
                        irregular_pulse=rng.random() < 0.05,
                    )
                )
                for k in range(rng.choice([2, 2, 3]))
            ]
            row.update(
                kind="blood_pressure",
                systolic_mmhg=rng.randrange(95, 200),
                diastolic_mmhg=rng.randrange(55, 110),
                mean_arterial_mmhg=rng.choice([None, rng.randrange(70, 130)]),
                pulse_bpm=rng.choice([None, rng.randrange(50, 110)]),
                irregular_pulse=any(m["irregular_pulse"] for m in ms),
                measurements=ms,
                category=rng.choice(CATEGORIES_BP),
                isolated_systolic=rng.choice([None, True, False]),
            )
        else:
            oor = rng.choice([None] * 18 + ["LO", "HI"])
            mmol = None if oor else round(rng.uniform(1.1, 33.3), 1)
            unit = rng.choice(["mmol/L", "mg/dL"])
            original = None if mmol is None else (mmol if unit == "mmol/L" else mmol * 18.016)
            row.update(
                kind="glucose",
                glucose_mmol_per_l=mmol,
                meal_context=rng.choice(["fasting", "after_meal", "random"]),
                original_value=original,
                original_unit=unit,
                out_of_range=oor,
                category=rng.choice(CATEGORIES_GLU),
            )
        readings.append(row)
        outbox.append(
            {
                "reading_uuid": row["uuid"],
                "enqueued_at": now,
                "attempts": 1 if n % delivered_every == 0 else 0,
                "delivered_at": now if n % delivered_every == 0 else None,
            }
        )
    with factory() as session:
        session.execute(insert(Resident.__table__), people)
        session.execute(insert(Reading.__table__), readings)
        session.execute(insert(OutboxEntry.__table__), outbox)
        session.execute(
            Meta.__table__.update().where(Meta.key == meta.STATION_SEQ).values(value=str(count))
        )
        session.commit()
