"""Keeping ``resident_status`` current from readings, reviews and residents.

The rules themselves are :mod:`healthkiosk.rules.status` (pure); this module
reads the facts from the database, applies them and stores the result.
:func:`catch_up` follows ``readings.received_at`` so it works whoever wrote
the readings (the MQTT ingest workers, a test, the benchmark): the web app
runs it every few seconds. An ingest may also call :func:`refresh_residents`
in its own transaction for zero delay.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from followup.db.models import DeadLetter, Reading, Resident
from followup.db.reviews import NO_ANSWER, Review
from followup.db.status import ResidentStatusRow, StatusWatermark
from healthkiosk.idnumber import mask_in_payload
from healthkiosk.rules import RulesConfig
from healthkiosk.rules.status import (
    ContactFacts,
    DeviceEventFacts,
    ReadingFacts,
    ResidentFacts,
    ResidentStatus,
    age_on,
    assess_reading,
    reported_value,
    resident_status,
)
from sync import schema

CHUNK = 500
REFRESH_TOPIC = "followup/status-refresh"
"""The ``topic`` of a dead letter the status refresher wrote (a reading it set aside)."""
BP_MAX = 400
GLUCOSE_MAX = 100.0
"""The wire schema's bounds for the measurement columns (:mod:`sync.schema`)."""
log = logging.getLogger(__name__)
FactKind = Literal["blood_pressure", "glucose", "device_event", "weight", "spo2", "temperature"]
FACT_KINDS: tuple[FactKind, ...] = (
    "blood_pressure", "glucose", "device_event", "weight", "spo2", "temperature",
)  # fmt: skip
LEVELS = {"urgent": 2, "abnormal": 1, "overdue": 0, "fine": 0}


@dataclass(frozen=True, slots=True)
class Refreshed:
    resident_id: int
    status: ResidentStatus
    urgent_readings: tuple[str, ...]
    """UUIDs of unreviewed readings that are urgent under the rules."""


@dataclass(frozen=True, slots=True)
class VitalColumns:
    """A weight, SpO2 or temperature reading's own columns."""

    weight_kg: float | None = None
    height_m: float | None = None
    bmi: float | None = None
    spo2_percent: int | None = None
    pulse_bpm: int | None = None
    celsius: float | None = None

    @classmethod
    def of(cls, r: Reading) -> VitalColumns:
        return cls(r.weight_kg, r.height_m, r.bmi, r.spo2_percent, r.pulse_bpm, r.temperature_c)


def summarise(  # noqa: PLR0917  (one reading's columns, in order)
    kind: str,
    systolic: int | None,
    diastolic: int | None,
    glucose: float | None,
    meal: str | None,
    out_of_range: str | None,
    *,
    irregular_pulse: bool = False,
    event: dict[str, Any] | None = None,
    vitals: VitalColumns | None = None,
) -> str:
    """A reading in a few words, as the list and the alerts show it."""
    v = vitals or VitalColumns()
    if kind == "weight":
        return f"weight {v.weight_kg or 0:.1f} kg, BMI {v.bmi or 0:.1f}"
    if kind == "spo2":
        pulse = f", pulse {v.pulse_bpm}" if v.pulse_bpm is not None else ""
        return f"SpO2 {v.spo2_percent} %{pulse}"
    if kind == "temperature":
        return f"temperature {v.celsius or 0:.1f} °C"
    if kind == "device_event":
        facts = event_facts(event)
        return f"{facts.measurement.replace('_', ' ')}: {reported_value(facts)} reported"
    if kind == "blood_pressure":
        irregular = ", irregular pulse" if irregular_pulse else ""
        return f"BP {systolic}/{diastolic} mmHg{irregular}"
    if out_of_range:
        return f"glucose {out_of_range} ({meal or 'random'})"
    return f"glucose {glucose:.1f} mmol/L ({meal or 'random'})"


def event_facts(event: dict[str, Any] | None) -> DeviceEventFacts:
    """A stored device event's values (``readings.event``) as the rules read them."""
    e = event or {}

    def num(key: str) -> Any:
        value = e.get(key)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    return DeviceEventFacts(
        event=str(e.get("event") or "unknown"),
        measurement=str(e.get("measurement") or "unknown"),
        reason=str(e.get("reason") or "unknown"),
        systolic=num("systolic"),
        diastolic=num("diastolic"),
        mmol_per_l=num("mmol_per_l"),
    )


def resident_facts(resident: Resident, today: date) -> ResidentFacts:
    return ResidentFacts(
        age=age_on(resident.birth_date, today),
        hypertension_programme=resident.hypertension_programme,
        diabetes_programme=resident.diabetes_programme,
    )


def refresh_residents(
    session: Session,
    resident_ids: Iterable[int],
    *,
    rules: RulesConfig,
    now: datetime,
    tz: tzinfo,
) -> list[Refreshed]:
    """Recompute and store the status of these residents (in the caller's transaction);
    their dates (review by, due, overdue) are the district's days, in ``tz``."""
    ids = sorted(set(resident_ids))
    out: list[Refreshed] = []
    for i in range(0, len(ids), CHUNK):
        out.extend(_refresh_chunk(session, ids[i : i + CHUNK], rules=rules, now=now, tz=tz))
    return out


def _refresh_chunk(
    session: Session, ids: Sequence[int], *, rules: RulesConfig, now: datetime, tz: tzinfo
) -> list[Refreshed]:
    today = now.astimezone(tz).date()
    residents = {r.id: r for r in session.scalars(select(Resident).where(Resident.id.in_(ids)))}
    spans: dict[tuple[int, str], tuple[datetime, datetime]] = {}
    for rid, kind, first, last in session.execute(
        select(
            Reading.resident_id,
            Reading.kind,
            func.min(Reading.measured_at),
            func.max(Reading.measured_at),
        )
        .where(Reading.resident_id.in_(ids), Reading.set_aside.is_(None))
        .group_by(Reading.resident_id, Reading.kind)
    ):
        spans[(rid, kind)] = (_aware(first), _aware(last))
    open_rows = session.execute(
        select(
            Reading.uuid,
            Reading.resident_id,
            Reading.kind,
            Reading.measured_at,
            Reading.systolic_mmhg,
            Reading.diastolic_mmhg,
            Reading.glucose_mmol_per_l,
            Reading.meal_context,
            Reading.out_of_range,
            Reading.station_id,
            Reading.irregular_pulse,
            Reading.event,
            Reading.weight_kg,
            Reading.height_m,
            Reading.bmi,
            Reading.spo2_percent,
            Reading.pulse_bpm,
            Reading.temperature_c,
        ).where(
            Reading.resident_id.in_(ids),
            Reading.reviewed_at.is_(None),
            Reading.set_aside.is_(None),
        )
    ).all()
    open_by: dict[int, list[ReadingFacts]] = {}
    info: dict[str, tuple[str, str]] = {}
    for u, rid, kind, at, s, d, g, meal, oor, station, irregular, event, *vital in open_rows:
        first_at = spans.get((rid, kind), (at, at))[0]
        is_event = kind == "device_event"
        fact_kind: FactKind = kind if kind in FACT_KINDS else "blood_pressure"
        vc = VitalColumns(*vital)
        open_by.setdefault(rid, []).append(
            ReadingFacts(
                uuid=u,
                kind=fact_kind,
                measured_at=at,
                systolic=s,
                diastolic=d,
                glucose_mmol_per_l=g,
                meal=meal,
                out_of_range=oor,
                first_of_kind=at <= first_at,
                irregular_pulse=bool(irregular),
                event=event_facts(event) if is_event else None,
                weight_kg=vc.weight_kg,
                height_m=vc.height_m,
                spo2_percent=vc.spo2_percent,
                pulse_bpm=vc.pulse_bpm,
                celsius=vc.celsius,
                age=age_on(residents[rid].birth_date, at.astimezone(tz).date())
                if rid in residents
                else None,
            )
        )
        summary = summarise(
            kind, s, d, g, meal, oor, irregular_pulse=bool(irregular), event=event, vitals=vc
        )
        info[u] = (summary, station)
    latest_review: dict[int, Review] = {}
    for rev in session.scalars(
        select(Review)
        .where(Review.resident_id.in_(ids), Review.outcome != NO_ANSWER)
        .order_by(Review.created_at, Review.id)
    ):  # a call not answered is an attempt, not a contact: the status stays
        latest_review[rev.resident_id] = rev
    existing = {
        row.resident_id: row
        for row in session.scalars(
            select(ResidentStatusRow).where(ResidentStatusRow.resident_id.in_(ids))
        )
    }
    out: list[Refreshed] = []
    for rid in ids:
        resident = residents.get(rid)
        if resident is None:
            continue
        facts = resident_facts(resident, today)
        last_reading = max((v[1] for k, v in spans.items() if k[0] == rid), default=None)
        last_rev: Review | None = latest_review.get(rid)
        contacts = ContactFacts(
            last_reading_at=last_reading,
            last_review_at=last_rev.created_at if last_rev else None,
            next_follow_up_on=last_rev.next_follow_up_on if last_rev else None,
            removed=bool(last_rev and last_rev.outcome == "removed"),
        )
        readings = open_by.get(rid, [])
        st = resident_status(facts, readings, contacts, today=today, tz=tz, rules=rules)
        row = existing.get(rid)
        if row is None:
            row = ResidentStatusRow(resident_id=rid, updated_at=now)
            session.add(row)
        trig = st.trigger
        row.level = LEVELS[st.status]
        row.trigger_uuid = trig.uuid if trig else None
        row.trigger_at = st.trigger_measured_at
        row.trigger_kind = next((r.kind for r in readings if trig and r.uuid == trig.uuid), None)
        row.trigger_summary = info[trig.uuid][0] if trig else None
        row.trigger_station_id = info[trig.uuid][1] if trig else resident.home_station_id
        row.rule = trig.rule if trig else None
        row.reason = trig.reason if trig else None
        row.screening = bool(trig and trig.screening)
        row.review_due_on = st.review_due_on
        row.due_on = st.due_on
        row.doctor_id = resident.responsible_doctor_id
        row.updated_at = now
        urgent = tuple(
            r.uuid for r in readings if assess_reading(r, facts, rules).level == "urgent"
        )
        out.append(Refreshed(rid, st, urgent))
    session.flush()
    return out


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    if isinstance(value, str):  # SQLite aggregates bypass the column type
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def catch_up(
    session: Session,
    *,
    rules: RulesConfig,
    now: datetime,
    tz: tzinfo,
    overlap: timedelta = timedelta(seconds=30),
) -> tuple[list[Refreshed], dict[str, datetime]]:
    """Refresh every resident with readings received since the watermark.

    Returns the refreshed statuses and the readings received in this window
    (UUID → received_at) (the caller raises alerts for the urgent ones). ``overlap`` re-reads
    a little of the past so a transaction that committed late is not missed;
    refreshing is idempotent.

    One bad row never stops it (issue 19): a resident whose refresh fails has
    the readings at fault set aside (:func:`set_aside`: dead-lettered with the
    reason, left out of the status from then on) and is refreshed without them;
    every other resident is refreshed, and the watermark moves on.
    """
    wm = session.get(StatusWatermark, 1)
    if wm is None:
        wm = StatusWatermark(id=1, received_at=None)
        session.add(wm)
    q = select(Reading.uuid, Reading.resident_id, Reading.received_at).where(
        Reading.set_aside.is_(None)
    )
    if wm.received_at is not None:
        q = q.where(Reading.received_at > wm.received_at - overlap)
    seen: dict[str, datetime] = {}
    window: dict[int, list[str]] = {}
    newest = wm.received_at
    for u, rid, received_raw in session.execute(q):
        received = _aware(received_raw)
        seen[u] = received
        window.setdefault(rid, []).append(u)
        if newest is None or received > newest:
            newest = received
    refreshed = isolated_refresh(session, window, rules=rules, now=now, tz=tz) if window else []
    if newest is not None and newest != wm.received_at:
        wm.received_at = newest
    return refreshed, seen


def isolated_refresh(
    session: Session,
    window: dict[int, list[str]],
    *,
    rules: RulesConfig,
    now: datetime,
    tz: tzinfo,
) -> list[Refreshed]:
    """:func:`refresh_residents` for ``window``'s residents (resident → the
    readings that brought it here), all at once; if that fails, one resident at
    a time, setting aside what makes one fail."""
    try:
        with session.begin_nested():
            return refresh_residents(session, window, rules=rules, now=now, tz=tz)
    except Exception:
        log.warning("status refresh failed; refreshing one resident at a time")
    out: list[Refreshed] = []
    for rid in sorted(window):
        try:
            with session.begin_nested():
                out.extend(refresh_residents(session, [rid], rules=rules, now=now, tz=tz))
            continue
        except Exception as err:
            error = err
        culprits = _implausible(session, rid) or window[rid]
        set_aside(session, culprits, reason=_reason(error), now=now)
        try:
            with session.begin_nested():
                out.extend(refresh_residents(session, [rid], rules=rules, now=now, tz=tz))
        except Exception:
            # Not these readings after all: this resident waits, nobody else does.
            log.exception("resident %s: status not refreshed", rid)
    return out


def _reason(err: BaseException) -> str:
    first = (str(err).splitlines() or [""])[0]
    return f"status_refresh_failed: {type(err).__name__}: {first}"[:250]


def _implausible(session: Session, resident_id: int) -> list[str]:
    """The resident's readings whose times or values no sender may send
    (``sync.schema``'s bounds): set aside first when a refresh fails."""
    lo, hi = schema.EARLIEST, schema.LATEST
    bad_time = [
        and_(col.is_not(None), or_(col < lo, col >= hi))
        for col in (Reading.measured_at, Reading.station_measured_at, Reading.device_time)
    ]
    bad_value = [
        Reading.systolic_mmhg > BP_MAX,
        Reading.systolic_mmhg < 0,
        Reading.diastolic_mmhg > BP_MAX,
        Reading.diastolic_mmhg < 0,
        Reading.glucose_mmol_per_l > GLUCOSE_MAX,
        Reading.glucose_mmol_per_l < 0,
    ]
    q = select(Reading.uuid).where(
        Reading.resident_id == resident_id,
        Reading.set_aside.is_(None),
        or_(*bad_time, *bad_value),
    )
    return list(session.scalars(q))


def set_aside(session: Session, uuids: Sequence[str], *, reason: str, now: datetime) -> None:
    """Mark ``uuids`` as unusable for statuses and dead-letter each once, with
    ``reason`` (the reading's stored payload, ID number already masked)."""
    for r in session.scalars(select(Reading).where(Reading.uuid.in_(uuids))):
        r.set_aside = reason[:300]
        log.error("reading %s set aside: %s", r.uuid, reason)
        session.add(
            DeadLetter(
                received_at=now,
                topic=REFRESH_TOPIC,
                station_id=r.station_id,
                reason=f"{reason} (reading {r.uuid})",
                payload=mask_in_payload(json.dumps(r.payload, default=str).encode()),
            )
        )
    session.flush()
