"""What the dashboard counts, read by SQL: the scope's residents, this year's follow-ups,
the last reading of each month, the urgent alerts and who has had no contact.

The scope's residents are read first (:func:`people`); everything else is read by
their ids, passed as one parameter (:func:`_among`): each resident an index probe,
whatever the planner guesses of a join (PostgreSQL's default ``random_page_cost``
scans the whole of ``reviews`` for a doctor's thousand residents: ten times slower),
and no statement with a thousand parameters to compile. The readings come from
partial covering indexes (migration ``0013_dashboard``: an index-only scan), and only
each resident's last reading of each month leaves the database (a window function).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, any_, bindparam, case, exists, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from followup.db.alerts import Alert
from followup.db.models import BP_FOR_CONTROL, FASTING_GLUCOSE, Reading, Resident
from followup.db.reviews import FOLLOWUP_DONE, Review


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
        """The scope's residents enrolled in a programme (whatever the enrolment date)."""
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
class Person:
    """A resident in scope, as the dashboard needs them."""

    birth_date: date | None
    hypertension: bool
    diabetes: bool
    hypertension_enrolled_on: date | None
    diabetes_enrolled_on: date | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LastOfMonth:
    """A resident's last reading of a month (``month`` 1-12 of the district's year)."""

    resident_id: int
    month: int
    measured_at: datetime
    values: tuple[float, ...]
    """Systolic and diastolic, or the fasting glucose."""


@dataclass(frozen=True, slots=True)
class AlertFact:
    resident_id: int
    measured_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: int | None


def people(session: Session, scope: Scope) -> dict[int, Person]:
    R = Resident
    q = select(
        R.id,
        R.birth_date,
        R.hypertension_programme,
        R.diabetes_programme,
        R.hypertension_enrolled_on,
        R.diabetes_enrolled_on,
        R.created_at,
    ).where(*scope.where())
    return {
        rid: Person(birth, ht, dm, ht_on, dm_on, created)
        for rid, birth, ht, dm, ht_on, dm_on, created in session.execute(q)
    }


def _among(session: Session, column: Any, ids: Collection[int]) -> ColumnElement[bool]:
    """``column`` is one of ``ids``, bound as one parameter: an array on PostgreSQL
    (``= ANY``), a JSON list on SQLite (``IN json_each``)."""
    values = sorted(ids)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", values, type_=ARRAY(Integer)))  # type: ignore[no-any-return]
    listed = func.json_each(bindparam("ids", json.dumps(values))).table_valued("value")
    return column.in_(select(listed.c.value))  # type: ignore[no-any-return]


def followups(
    session: Session, ids: Collection[int], *, since: datetime, until: datetime
) -> list[tuple[int, datetime]]:
    """These residents' follow-ups (reviews that are a contact) between ``since`` and
    ``until``: (resident, when)."""
    q = select(Review.resident_id, Review.created_at).where(
        _among(session, Review.resident_id, ids),
        Review.created_at >= since,
        Review.created_at <= until,
        Review.outcome.in_(sorted(FOLLOWUP_DONE)),
    )
    return [(rid, at) for rid, at in session.execute(q)]


def last_of_each_month(
    session: Session,
    ids: Collection[int],
    *,
    kind: str,
    month_starts: Sequence[datetime],
    until: datetime,
) -> list[LastOfMonth]:
    """These residents' last blood pressure (``kind`` "blood_pressure") or fasting
    glucose ("glucose") reading of each month from ``month_starts[0]`` to ``until``;
    by resident, oldest first. A reading's month is the last of ``month_starts`` at or
    before it."""
    if kind == "blood_pressure":
        values: tuple[Any, ...] = (Reading.systolic_mmhg, Reading.diastolic_mmhg)
        usable = BP_FOR_CONTROL
    else:
        values, usable = (Reading.glucose_mmol_per_l,), FASTING_GLUCOSE
    month = case(
        *((Reading.measured_at < start, m) for m, start in enumerate(month_starts[1:], 1)),
        else_=len(month_starts),
    )
    ranked = (
        select(
            Reading.resident_id.label("rid"),
            month.label("month"),
            Reading.measured_at.label("at"),
            *values,
            func.row_number()
            .over(partition_by=(Reading.resident_id, month), order_by=Reading.measured_at.desc())
            .label("nth"),
        )
        .where(
            _among(session, Reading.resident_id, ids),
            usable,
            Reading.measured_at >= month_starts[0],
            Reading.measured_at <= until,
        )
        .subquery()
    )
    q = (
        select(ranked.c.rid, ranked.c.month, ranked.c.at, *list(ranked.c)[3:-1])
        .where(ranked.c.nth == 1)
        .order_by(ranked.c.rid, ranked.c.at)
    )
    return [LastOfMonth(rid, int(m), at, tuple(rest)) for rid, m, at, *rest in session.execute(q)]


def alerts(
    session: Session, ids: Collection[int], *, since: datetime, until: datetime
) -> list[AlertFact]:
    """These residents' urgent alerts of readings made between ``since`` and ``until``."""
    q = select(
        Alert.resident_id, Alert.measured_at, Alert.acknowledged_at, Alert.acknowledged_by
    ).where(
        _among(session, Alert.resident_id, ids),
        Alert.measured_at >= since,
        Alert.measured_at <= until,
    )
    return [AlertFact(*row) for row in session.execute(q)]


def without_contact(session: Session, ids: Collection[int], *, since: datetime) -> set[int]:
    """Those of these residents with no reading and no follow-up from ``since`` on."""
    R = Resident
    q = select(R.id).where(
        _among(session, R.id, ids),
        ~exists().where(Reading.resident_id == R.id, Reading.measured_at >= since),
        ~exists().where(
            Review.resident_id == R.id,
            Review.created_at >= since,
            Review.outcome.in_(sorted(FOLLOWUP_DONE)),
        ),
    )
    return set(session.scalars(q))
