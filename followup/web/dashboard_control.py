"""The dashboard's control rates (docs/clinical.md, "Dashboard"): for blood pressure
(hypertension management) or fasting glucose (diabetes management), who is controlled
now, who has a reading this year, and how many were controlled by each month's end.

Most residents' limit is the same all year (enrolled before the year, not reaching
``elderly_age`` in it): SQL decides and counts theirs
(:func:`~followup.web.dashboard_facts.controlled_months`: one row per resident). The
others (enrolled this year: readings count from the day of enrolment; reaching the
elderly age this year: the limit of the age on the reading's day) have each month's
last reading read and decided here by :mod:`healthkiosk.rules.control`. The tests hold
both to the same figures counted by hand, at every boundary of the definition.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from followup.web import dashboard_facts as facts
from followup.web.dashboard_people import Managed, Year
from healthkiosk.rules.config import FollowupRules
from healthkiosk.rules.control import bp_controlled_on, fasting_glucose_controlled
from healthkiosk.rules.status import age_on

Decided = dict[int, list[tuple[int, bool]]]
"""Resident → (month, controlled) of its last reading of each month, oldest first."""


@dataclass(frozen=True, slots=True)
class ControlFigures:
    controlled: set[int]
    """Controlled now: the last reading of the year so far."""
    with_reading: set[int]
    by_month: list[int]
    """Index 1 to this month: the residents in the programme by the month's end whose
    last reading up to then was controlled."""


def control_figures(
    session: Session, kind: str, managed: dict[int, Managed], year: Year, fu: FollowupRules
) -> ControlFigures:
    """``kind`` "blood_pressure" or "glucose" (fasting) for the residents in its programme."""
    since = {rid: s for rid, m in managed.items() if (s := m.since_in(kind)) is not None}
    steady = {rid for rid, s in since.items() if _steady(kind, s, managed[rid], year, fu)}
    masks = facts.controlled_months(
        session,
        steady,
        kind=kind,
        month_starts=year.starts,
        until=year.now,
        limits=limits(year, fu),
        birth_dates={rid: managed[rid].person.birth_date for rid in steady},
    )
    changing = set(since) - steady
    decided = _decide(session, kind, changing, managed=managed, year=year, fu=fu)
    now = year.today.month
    counted_from = {rid: year.month_of(since[rid]) for rid in changing}
    by_month = _controlled_by_month(counted_from, decided, now)
    for mask in masks.values():
        for m in range(1, now + 1):
            by_month[m] += (mask >> m) & 1
    controlled = {rid for rid, mask in masks.items() if (mask >> now) & 1}
    controlled |= {rid for rid, rows in decided.items() if rows and rows[-1][1]}
    with_reading = set(masks) | {rid for rid, rows in decided.items() if rows}
    return ControlFigures(controlled, with_reading, by_month)


def limits(year: Year, fu: FollowupRules) -> facts.Limits:
    """The rules' limits for SQL: 65 or over all year is born by 1 January, 65 years
    before (:func:`healthkiosk.rules.status.age_on`: the birthday counts)."""
    return facts.Limits(
        systolic_below=fu.controlled_systolic_below,
        elderly_systolic_below=fu.elderly_controlled_systolic_below,
        diastolic_below=fu.controlled_diastolic_below,
        elderly_born_by=date(year.today.year - fu.elderly_age, 1, 1),
        glucose_below=fu.controlled_fasting_glucose_below,
    )


def _steady(kind: str, since: date, m: Managed, year: Year, fu: FollowupRules) -> bool:
    """In the programme before the year, and (blood pressure) on the same side of
    ``elderly_age`` all year (a birth date not known: the stricter limit all year)."""
    if since.year >= year.today.year:
        return False
    if kind != "blood_pressure":
        return True
    birth = m.person.birth_date
    first, last = age_on(birth, year.ends[0].replace(day=1)), age_on(birth, year.ends[-1])
    return first is None or last is None or (first >= fu.elderly_age) == (last >= fu.elderly_age)


def _decide(
    session: Session,
    kind: str,
    ids: Collection[int],
    *,
    managed: dict[int, Managed],
    year: Year,
    fu: FollowupRules,
) -> Decided:
    """Each month's last reading of these residents, from the district's day of their
    enrolment in the programme on (a month whose last reading came before that day had
    none after it either), decided by the rules: blood pressure by the limit of the
    resident's age on the reading's day."""
    if not ids:
        return {}
    rows = facts.last_of_each_month(
        session, ids, kind=kind, month_starts=year.starts, until=year.now
    )
    jan1 = year.ends[0].replace(day=1)
    counted_from = {
        rid: year.start_of(max(since, jan1))
        for rid in ids
        if (since := managed[rid].since_in(kind)) is not None
    }
    out: Decided = defaultdict(list)
    for r in rows:
        m = managed[r.resident_id]
        if r.measured_at < counted_from[r.resident_id]:
            continue
        if kind == "blood_pressure":
            s, d = int(r.values[0]), int(r.values[1])
            ok = bp_controlled_on(s, d, m.person.birth_date, year.day(r.measured_at), fu)
        else:
            ok = fasting_glucose_controlled(r.values[0], fu)
        out[r.resident_id].append((r.month, ok))
    return out


def _controlled_by_month(counted_from: dict[int, int], decided: Decided, months: int) -> list[int]:
    """Per month (index 1 to ``months``), the residents counted by then (from their month
    in ``counted_from``) whose last reading up to the month's end was controlled: one
    pass over the readings, each covering the months until the next."""
    diff = [0] * (months + 2)
    for rid, start in counted_from.items():
        rows = decided.get(rid, [])
        for k, (m, ok) in enumerate(rows):
            lo, hi = max(m, start), rows[k + 1][0] if k + 1 < len(rows) else months + 1
            if ok and lo < hi:
                diff[lo] += 1
                diff[hi] -= 1
    out, n = [0], 0
    for month in range(1, months + 1):
        n += diff[month]
        out.append(n)
    return out
