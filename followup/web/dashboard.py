"""The dashboard's figures: per doctor or per area, this year, by month (docs/clinical.md,
"Dashboard"). Every figure keeps the residents behind it, so each links to them.

The scope's enrolled residents are read once; their readings and reviews of this year
are read in three queries and counted here. Months and ages go by the district's day.
"""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, or_, select
from sqlalchemy.orm import Session

from followup.db.alerts import Alert
from followup.db.models import Reading, Resident
from followup.db.reviews import FOLLOWUP_DONE, Review
from healthkiosk.rules import RulesConfig
from healthkiosk.rules.control import (
    bp_controlled_on,
    fasting_glucose_controlled,
    next_due,
    periods_ended,
)

IN_LIST_MAX = 10_000
"""Up to this many residents in scope, their rows are read by id (see :func:`_each`)."""
IN_CHUNK = 1_000

FIGURES = (
    "managed",
    "managed_hypertension",
    "managed_diabetes",
    "followup_overdue",
    "followup_due",
    "followup_on_track",
    "followup_done",
    "bp_controlled",
    "bp_uncontrolled",
    "bp_no_reading",
    "glucose_controlled",
    "glucose_uncontrolled",
    "glucose_no_reading",
    "urgent",
    "urgent_open",
    "lost",
)


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose residents: a doctor's (``doctor``, a user id), an area's, or (neither) all."""

    doctor: int | None = None
    area: str | None = None

    @classmethod
    def from_query(cls, q: Mapping[str, str], *, default_doctor: int | None) -> Scope:
        area = (q.get("area") or "").strip()[:200] or None
        raw = (q.get("doctor") or "").strip()
        if raw == "all" or (area and not raw):
            return cls(None, area)
        if raw.isdigit():
            return cls(int(raw), area)
        return cls(default_doctor, area)

    def where(self) -> list[ColumnElement[bool]]:
        w: list[ColumnElement[bool]] = [
            or_(Resident.hypertension_programme.is_(True), Resident.diabetes_programme.is_(True))
        ]
        if self.doctor is not None:
            w.append(Resident.responsible_doctor_id == self.doctor)
        if self.area is not None:
            w.append(Resident.area == self.area)
        return w

    def query_string(self) -> dict[str, str]:
        out = {"doctor": str(self.doctor) if self.doctor is not None else "all"}
        if self.area:
            out["area"] = self.area
        return out


@dataclass(frozen=True, slots=True)
class Month:
    month: int
    followups_done: int
    """Cumulative from January."""
    followups_due: int
    """Cumulative: the residents under management × the periods ended by the month's end."""
    bp_controlled: int
    glucose_controlled: int
    urgent: int
    median_ack_s: float | None


@dataclass(frozen=True, slots=True)
class DoctorAck:
    doctor_id: int
    acknowledged: int
    median_s: float


@dataclass
class Dashboard:
    scope: Scope
    today: date
    residents: dict[str, set[int]] = field(default_factory=dict)
    months: list[Month] = field(default_factory=list)
    per_doctor: list[DoctorAck] = field(default_factory=list)
    median_ack_s: float | None = None
    followups_done: int = 0
    followups_due: int = 0
    next_due: dict[int, tuple[int, date | None, str]] = field(default_factory=dict)
    """Each enrolled resident: follow-ups done this year, the next one's date, its state."""

    def count(self, key: str) -> int:
        return len(self.residents.get(key, ()))

    def rate(self, key: str, of: str) -> float | None:
        n = self.count(of)
        return None if n == 0 else self.count(key) / n


def _local_date(at: datetime, tz: tzinfo) -> date:
    return at.astimezone(tz).date()


def compute(
    session: Session, scope: Scope, *, now: datetime, tz: tzinfo, rules: RulesConfig
) -> Dashboard:
    fu = rules.followup
    today = _local_date(now, tz)
    year_start = datetime(today.year, 1, 1, tzinfo=tz)
    d = Dashboard(scope=scope, today=today)
    R = Resident
    people = {
        rid: (birth, ht, dm)
        for rid, birth, ht, dm in session.execute(
            select(R.id, R.birth_date, R.hypertension_programme, R.diabetes_programme).where(
                *scope.where()
            )
        )
    }
    ht = {rid for rid, (_b, h, _d) in people.items() if h}
    dm = {rid for rid, (_b, _h, m) in people.items() if m}
    d.residents["managed"] = set(people)
    d.residents["managed_hypertension"] = ht
    d.residents["managed_diabetes"] = dm
    month_now = today.month

    # Follow-ups done this year (reviews that are a contact), per resident and month.
    done_by: dict[int, int] = defaultdict(int)
    done_month = [0] * 13
    starts = [datetime(today.year, m, 1, tzinfo=tz) for m in range(1, 13)]
    """The district's month starts: a time's month is ``bisect_right(starts, at)``."""
    by_ids = len(people) <= IN_LIST_MAX
    for rid, at in _each(
        session,
        select(Review.resident_id, Review.created_at).where(
            Review.created_at >= year_start,
            Review.created_at <= now,
            Review.outcome.in_(sorted(FOLLOWUP_DONE)),
        ),
        Review.resident_id,
        set(people) if by_ids else None,
        scope.where(),
    ):
        done_by[rid] += 1
        done_month[bisect_right(starts, at)] += 1
    for state in ("overdue", "due", "on_track", "done"):
        d.residents[f"followup_{state}"] = set()
    for rid in people:
        due_on, state = next_due(done_by[rid], today, fu)
        d.next_due[rid] = (done_by[rid], due_on, state)
        d.residents[f"followup_{state}"].add(rid)
    d.followups_done = sum(done_month)
    d.followups_due = len(people) * periods_ended(today.year, month_now, fu)

    # Control: the last reading of the year so far, by the month's end.
    # Only the last reading of each month matters: the month by bisecting the district's
    # month starts, the (dearer) local date and age only for the month's last reading.
    bp_rows: dict[tuple[int, int], tuple[datetime, int, int]] = {}
    """resident -> [(month, controlled)] of the last reading in each month it has one."""
    for rid, at, sys_, dia in _each(
        session,
        select(
            Reading.resident_id, Reading.measured_at, Reading.systolic_mmhg, Reading.diastolic_mmhg
        )
        .where(
            Reading.kind == "blood_pressure",
            Reading.systolic_mmhg.is_not(None),
            Reading.diastolic_mmhg.is_not(None),
            Reading.measured_at >= year_start,
            Reading.measured_at <= now,
        )
        .order_by(Reading.resident_id, Reading.measured_at),
        Reading.resident_id,
        ht if by_ids else None,
        [*scope.where(), R.hypertension_programme.is_(True)],
    ):
        bp_rows[rid, bisect_right(starts, at)] = (at, sys_ or 0, dia or 0)  # not None: WHERE
    bp_last: dict[int, list[tuple[int, bool]]] = defaultdict(list)
    for (rid, month), (at, sys_, dia) in sorted(bp_rows.items()):
        on = _local_date(at, tz)
        bp_last[rid].append((month, bp_controlled_on(sys_, dia, people[rid][0], on, fu)))
    gl_last: dict[int, list[tuple[int, bool]]] = defaultdict(list)
    for rid, at, value in _each(
        session,
        select(Reading.resident_id, Reading.measured_at, Reading.glucose_mmol_per_l)
        .where(
            Reading.kind == "glucose",
            Reading.meal_context == "fasting",
            Reading.glucose_mmol_per_l.is_not(None),
            Reading.measured_at >= year_start,
            Reading.measured_at <= now,
        )
        .order_by(Reading.resident_id, Reading.measured_at),
        Reading.resident_id,
        dm if by_ids else None,
        [*scope.where(), R.diabetes_programme.is_(True)],
    ):
        _keep_last(
            gl_last[rid], bisect_right(starts, at), fasting_glucose_controlled(value or 0.0, fu)
        )
    _control(d, "bp", ht, bp_last)
    _control(d, "glucose", dm, gl_last)

    # Urgent readings and the time to acknowledge.
    urgent_month = [0] * 13
    ack_month: dict[int, list[float]] = defaultdict(list)
    by_doctor: dict[int, list[float]] = defaultdict(list)
    d.residents["urgent"], d.residents["urgent_open"] = set(), set()
    all_ack: list[float] = []
    for rid, measured, acked, who in _each(
        session,
        select(
            Alert.resident_id, Alert.measured_at, Alert.acknowledged_at, Alert.acknowledged_by
        ).where(Alert.measured_at >= year_start, Alert.measured_at <= now),
        Alert.resident_id,
        set(people) if by_ids else None,
        scope.where(),
    ):
        m = bisect_right(starts, measured)
        urgent_month[m] += 1
        d.residents["urgent"].add(rid)
        if acked is None:
            d.residents["urgent_open"].add(rid)
            continue
        s = (acked - measured).total_seconds()
        ack_month[m].append(s)
        all_ack.append(s)
        if who is not None:
            by_doctor[who].append(s)
    d.median_ack_s = statistics.median(all_ack) if all_ack else None
    d.per_doctor = sorted(
        (DoctorAck(doc, len(xs), statistics.median(xs)) for doc, xs in by_doctor.items()),
        key=lambda a: (-a.acknowledged, a.doctor_id),
    )

    # Lost to follow-up: no reading and no follow-up for lost_to_followup_days.
    cutoff = now - timedelta(days=fu.lost_to_followup_days)
    d.residents["lost"] = set(
        session.scalars(
            select(R.id).where(
                *scope.where(),
                R.created_at < cutoff,
                ~exists().where(Reading.resident_id == R.id, Reading.measured_at >= cutoff),
                ~exists().where(
                    Review.resident_id == R.id,
                    Review.created_at >= cutoff,
                    Review.outcome.in_(sorted(FOLLOWUP_DONE)),
                ),
            )
        )
    )

    done_cum = 0
    for m in range(1, month_now + 1):
        done_cum += done_month[m]
        d.months.append(
            Month(
                month=m,
                followups_done=done_cum,
                followups_due=len(people) * periods_ended(today.year, m, fu),
                bp_controlled=_controlled_by(bp_last, m),
                glucose_controlled=_controlled_by(gl_last, m),
                urgent=urgent_month[m],
                median_ack_s=statistics.median(ack_month[m]) if ack_month[m] else None,
            )
        )
    return d


def _each(
    session: Session,
    base: Select[*tuple[Any, ...]],
    column: Any,
    ids: set[int] | None,
    where: list[ColumnElement[bool]],
) -> Iterator[Any]:
    """The rows of ``base`` for the scope's residents: by their ids, in chunks (each an
    index probe on ``(resident_id, ...)``: a doctor's or an area's few thousand), or
    (``ids`` None: a whole district) joined to the residents under ``where``. Rows come
    in ``base``'s order within the ascending ids."""
    if ids is None:
        yield from session.execute(base.join(Resident, Resident.id == column).where(*where))
        return
    ordered = sorted(ids)
    for k in range(0, len(ordered), IN_CHUNK):
        yield from session.execute(base.where(column.in_(ordered[k : k + IN_CHUNK])))


def _keep_last(months: list[tuple[int, bool]], month: int, ok: bool) -> None:
    """Readings come oldest first: the last of each month replaces the one before."""
    if months and months[-1][0] == month:
        months[-1] = (month, ok)
    else:
        months.append((month, ok))


def _controlled_by(last: dict[int, list[tuple[int, bool]]], month: int) -> int:
    """Residents whose last reading up to the end of ``month`` was controlled."""
    n = 0
    for months in last.values():
        latest = None
        for m, ok in months:
            if m > month:
                break
            latest = ok
        n += latest is True
    return n


def _control(d: Dashboard, prefix: str, managed: set[int], last: dict[int, Any]) -> None:
    ok = {rid for rid in managed if last.get(rid) and last[rid][-1][1]}
    seen = {rid for rid in managed if last.get(rid)}
    d.residents[f"{prefix}_controlled"] = ok
    d.residents[f"{prefix}_uncontrolled"] = seen - ok
    d.residents[f"{prefix}_no_reading"] = managed - seen
