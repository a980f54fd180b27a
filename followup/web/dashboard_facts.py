"""What the dashboard counts, read by SQL: the scope's residents, this year's follow-ups,
the last reading of each month, the urgent alerts and who has had no contact.

The scope's residents are read first (:func:`people`); everything else is read by
their ids, passed as one parameter (:func:`among`): each resident an index probe,
whatever the planner guesses of a join (PostgreSQL's default ``random_page_cost``
scans the whole of ``reviews`` for a doctor's thousand residents: ten times slower),
and no statement with a thousand parameters to compile. The readings come from
partial covering indexes (migration ``0013_dashboard``: an index-only scan), and only
each resident's last reading of each month leaves the database (a window function).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

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


def among(session: Session, column: Any, ids: Collection[int]) -> ColumnElement[bool]:
    """``column`` is one of ``ids``: ``IN`` the rows of a table function over one text
    parameter, ``unnest`` of an array literal on PostgreSQL, ``json_each`` of a JSON list
    on SQLite. The planner joins that like a table: an index probe per resident for a
    doctor's thousand, a hash for a whole district (``= ANY`` of a bound array tests
    every row against every id: minutes at 50,000), and no thousand-parameter
    statement to compile (nor psycopg's list adapter, a regular expression per id)."""
    values = sorted(ids)
    if session.get_bind().dialect.name == "postgresql":
        literal_array: BindParameter[str] = bindparam(
            "ids", "{" + ",".join(map(str, values)) + "}", unique=True
        )
        table = (
            func.unnest(cast(literal_array, ARRAY(Integer))).table_valued("value").render_derived()
        )
    else:
        as_json: BindParameter[str] = bindparam("ids", json.dumps(values), unique=True)
        table = func.json_each(as_json).table_valued("value")
    return column.in_(select(table.c.value))  # type: ignore[no-any-return]


def _with_number(session: Session, numbers: Mapping[int, int]) -> Any:
    """``numbers`` (resident → a number) as a table of ``value`` (the resident) and
    ``number``, to join: ``unnest`` of two array literals on PostgreSQL, ``json_each`` of
    a JSON list of pairs on SQLite (one parameter each, as :func:`among`). Joined, not
    tested with ``IN``: the planner probes each resident's readings by the index (a
    semi-join of ``IN`` could read the whole year's readings of everyone and hash them)."""
    values = sorted(numbers)
    if session.get_bind().dialect.name == "postgresql":
        ids_array: BindParameter[str] = bindparam(
            "ids", "{" + ",".join(map(str, values)) + "}", unique=True
        )
        numbers_array: BindParameter[str] = bindparam(
            "numbers", "{" + ",".join(str(numbers[v]) for v in values) + "}", unique=True
        )
        table = (
            func.unnest(cast(ids_array, ARRAY(Integer)), cast(numbers_array, ARRAY(Integer)))
            .table_valued("value", "number")
            .render_derived()
        )
        return select(table.c.value, table.c.number).subquery()
    pairs: BindParameter[str] = bindparam(
        "pairs", json.dumps([[v, numbers[v]] for v in values]), unique=True
    )
    each = func.json_each(pairs).table_valued("value")
    return select(
        cast(func.json_extract(each.c.value, "$[0]"), Integer).label("value"),
        cast(func.json_extract(each.c.value, "$[1]"), Integer).label("number"),
    ).subquery()


def followups(
    session: Session, ids: Collection[int], *, since: datetime, until: datetime
) -> list[tuple[int, datetime]]:
    """These residents' follow-ups (reviews that are a contact) between ``since`` and
    ``until``: (resident, when)."""
    q = select(Review.resident_id, Review.created_at).where(
        among(session, Review.resident_id, ids),
        Review.created_at >= since,
        Review.created_at <= until,
        Review.outcome.in_(sorted(FOLLOWUP_DONE)),
    )
    return [(rid, at) for rid, at in session.execute(q)]


@dataclass(frozen=True, slots=True)
class Limits:
    """Control as :mod:`healthkiosk.rules.control` decides it, for residents whose limit
    is the same all year: systolic and diastolic below their limits (the elderly
    systolic limit for those born by ``elderly_born_by``, 65 or over all year; a birth
    date not known: the stricter limit), fasting glucose below its limit."""

    systolic_below: int
    elderly_systolic_below: int
    diastolic_below: int
    elderly_born_by: date
    glucose_below: float

    def systolic_below_for(self, birth_date: date | None) -> int:
        """The systolic limit all year of a resident born on ``birth_date``."""
        if birth_date is not None and birth_date <= self.elderly_born_by:
            return self.elderly_systolic_below
        return self.systolic_below


def _ranked(
    session: Session,
    ids: Collection[int] | Mapping[int, int],
    *,
    kind: str,
    month_starts: Sequence[datetime],
    until: datetime,
    columns: Callable[[Any, Any], Sequence[Any]],
) -> Any:
    """These residents' usable readings of ``kind`` from ``month_starts[0]`` to ``until``
    with their month (``month``), ``columns`` (given the residents' table, whose
    ``number`` is each one's number in ``ids`` when it is a mapping, and the readings',
    with the columns of ``readings``) and ``nth``: 1 for each resident's last reading of
    a month.

    On PostgreSQL each resident's readings are a ``LATERAL`` subquery: an index-only
    probe of the partial index per resident whatever the planner's statistics say (a
    plain join, planned from a table not yet analysed, hashed the whole year's
    readings of everyone: seconds). SQLite joins by the index anyway (no ``LATERAL``)."""
    usable = BP_FOR_CONTROL if kind == "blood_pressure" else FASTING_GLUCOSE
    who = _with_number(session, ids if isinstance(ids, Mapping) else dict.fromkeys(ids, 0))
    in_year = (Reading.measured_at >= month_starts[0], Reading.measured_at <= until)
    values = (
        (Reading.systolic_mmhg, Reading.diastolic_mmhg)
        if kind == "blood_pressure"
        else (Reading.glucose_mmol_per_l,)
    )
    r: Any
    if session.get_bind().dialect.name == "postgresql":
        r = (
            select(Reading.resident_id, Reading.measured_at, *values)
            .where(Reading.resident_id == who.c.value, usable, *in_year)
            .offset(0)  # kept a subquery: the planner may not flatten it into a join
            .lateral("r")
        )
        joined = select().select_from(who).join(r, true())
    else:
        r = Reading.__table__
        joined = (
            select()
            .select_from(who)
            .join(r, Reading.resident_id == who.c.value)
            .where(usable, *in_year)
        )
    month = case(
        *((r.c.measured_at < start, m) for m, start in enumerate(month_starts[1:], 1)),
        else_=len(month_starts),
    )
    return joined.add_columns(
        r.c.resident_id.label("rid"),
        month.label("month"),
        *columns(who, r),
        func.row_number()
        .over(partition_by=(r.c.resident_id, month), order_by=r.c.measured_at.desc())
        .label("nth"),
    ).subquery()


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
    values = (
        ("systolic_mmhg", "diastolic_mmhg") if kind == "blood_pressure" else ("glucose_mmol_per_l",)
    )
    ranked = _ranked(
        session,
        ids,
        kind=kind,
        month_starts=month_starts,
        until=until,
        columns=lambda _who, r: (r.c.measured_at.label("at"), *(r.c[v] for v in values)),
    )
    q = (
        select(ranked.c.rid, ranked.c.month, ranked.c.at, *list(ranked.c)[3:-1])
        .where(ranked.c.nth == 1)
        .order_by(ranked.c.rid, ranked.c.at)
    )
    return [LastOfMonth(rid, int(m), at, tuple(rest)) for rid, m, at, *rest in session.execute(q)]


def controlled_months(
    session: Session,
    ids: Collection[int],
    *,
    kind: str,
    month_starts: Sequence[datetime],
    until: datetime,
    limits: Limits,
    birth_dates: Mapping[int, date | None] | None = None,
) -> dict[int, int]:
    """For residents whose limit is the same all year (``limits``; blood pressure: by
    ``birth_dates``, each resident's), counted in SQL: resident → a bit mask whose bit m
    (1-12) says the last reading up to the end of month m was controlled (a resident with
    no reading is not in it). Each month's last reading, controlled, sets the bits from
    its month to the month before the next one's (``lead``): one row per resident leaves
    the database, not one per reading. Each resident's systolic limit goes with its id
    (no join of ``residents``: at a district's size its whole table was hashed)."""
    if kind == "blood_pressure":
        born = birth_dates or {}
        who: Collection[int] | Mapping[int, int] = {
            rid: limits.systolic_below_for(born.get(rid)) for rid in ids
        }

        def ok(t: Any, r: Any) -> ColumnElement[bool]:
            return and_(r.c.systolic_mmhg < t.c.number, r.c.diastolic_mmhg < limits.diastolic_below)
    else:
        who = ids

        def ok(t: Any, r: Any) -> ColumnElement[bool]:
            return r.c.glucose_mmol_per_l < limits.glucose_below  # type: ignore[no-any-return]

    ranked = _ranked(
        session,
        who,
        kind=kind,
        month_starts=month_starts,
        until=until,
        columns=lambda t, r: [ok(t, r).label("ok")],
    )
    lasts = (
        select(
            ranked.c.rid,
            ranked.c.month,
            ranked.c.ok,
            func.lead(ranked.c.month)
            .over(partition_by=ranked.c.rid, order_by=ranked.c.month)
            .label("next"),
        )
        .where(ranked.c.nth == 1)
        .subquery()
    )
    one = literal(1, Integer)
    until_next = one.op("<<")(func.coalesce(lasts.c.next, len(month_starts) + 1))
    bits = case((lasts.c.ok, until_next - one.op("<<")(lasts.c.month)), else_=0)
    q = select(lasts.c.rid, func.sum(bits)).group_by(lasts.c.rid)
    return {rid: int(mask) for rid, mask in session.execute(q)}


def alerts(
    session: Session, ids: Collection[int], *, since: datetime, until: datetime
) -> list[AlertFact]:
    """These residents' urgent alerts of readings made between ``since`` and ``until``."""
    q = select(
        Alert.resident_id, Alert.measured_at, Alert.acknowledged_at, Alert.acknowledged_by
    ).where(
        among(session, Alert.resident_id, ids),
        Alert.measured_at >= since,
        Alert.measured_at <= until,
    )
    return [AlertFact(*row) for row in session.execute(q)]


def without_contact(session: Session, ids: Collection[int], *, since: datetime) -> set[int]:
    """Those of these residents with no reading and no follow-up from ``since`` on."""
    R = Resident
    q = select(R.id).where(
        among(session, R.id, ids),
        ~exists().where(Reading.resident_id == R.id, Reading.measured_at >= since),
        ~exists().where(
            Review.resident_id == R.id,
            Review.created_at >= since,
            Review.outcome.in_(sorted(FOLLOWUP_DONE)),
        ),
    )
    return set(session.scalars(q))
