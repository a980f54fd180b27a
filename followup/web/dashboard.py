"""The dashboard's figures: per doctor or per area, this year, by month (docs/clinical.md,
"Dashboard"). Every figure keeps the residents behind it, so each links to them.

The facts come from :mod:`followup.web.dashboard_facts` (SQL: the last reading of each
month, not every reading); they are counted here. Months, ages and enrolment days go by
the district's day; a resident counts from the day of enrolment in a programme.
"""

from __future__ import annotations

import calendar
import statistics
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from sqlalchemy.orm import Session

from followup.web import dashboard_facts as facts
from followup.web.dashboard_facts import Person, Scope
from healthkiosk.rules import RulesConfig
from healthkiosk.rules.config import FollowupRules
from healthkiosk.rules.control import (
    bp_controlled,
    bp_controlled_on,
    fasting_glucose_controlled,
    first_period,
    managed_on,
    next_due,
    periods_ended,
)
from healthkiosk.rules.status import age_on

__all__ = ["FIGURES", "Dashboard", "DoctorAck", "Month", "Scope", "Year", "compute"]

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
class Month:
    month: int
    followups_done: int
    """Cumulative from January."""
    followups_due: int
    """Cumulative: each resident under management, the periods owed that ended by the
    month's end."""
    bp_controlled: int
    glucose_controlled: int
    urgent: int
    median_ack_s: float | None
    managed_hypertension: int = 0
    """Under hypertension management by the month's end (the control rate's denominator)."""
    managed_diabetes: int = 0


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


@dataclass(frozen=True, slots=True)
class Year:
    """The district's calendar for the dashboard: today, this year's month starts (the
    instants) and month ends (the days), and a moment's day."""

    now: datetime
    tz: tzinfo
    today: date
    starts: tuple[datetime, ...]
    ends: tuple[date, ...]

    @classmethod
    def of(cls, now: datetime, tz: tzinfo) -> Year:
        today = now.astimezone(tz).date()
        y = today.year
        starts = tuple(datetime(y, m, 1, tzinfo=tz) for m in range(1, 13))
        ends = tuple(date(y, m, calendar.monthrange(y, m)[1]) for m in range(1, 13))
        return cls(now, tz, today, starts, ends)

    def day(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()

    def start_of(self, day: date) -> datetime:
        """The instant the district's ``day`` begins: ``at >= start_of(d)`` is
        ``day(at) >= d`` (one comparison instead of a time zone conversion)."""
        return datetime(day.year, day.month, day.day, tzinfo=self.tz).astimezone(UTC)

    def month(self, at: datetime) -> int:
        return bisect_right(self.starts, at)

    def month_of(self, day: date) -> int:
        """The month of this year a day falls in (1 for a day before the year)."""
        return 1 if day.year < self.today.year else day.month


@dataclass(frozen=True, slots=True)
class Managed:
    """A resident under management today: since when, in each programme."""

    person: Person
    hypertension_since: date | None
    """None: not in hypertension management; ``date.min``: since a day not known."""
    diabetes_since: date | None
    since: date
    """Under management (either programme) since."""
    first: int
    """The first of the year's periods a follow-up is owed for."""

    def since_in(self, kind: str) -> date | None:
        """In the programme whose control ``kind`` of reading measures, since."""
        return self.hypertension_since if kind == "blood_pressure" else self.diabetes_since


def compute(
    session: Session, scope: Scope, *, now: datetime, tz: tzinfo, rules: RulesConfig
) -> Dashboard:
    fu = rules.followup
    year = Year.of(now, tz)
    d = Dashboard(scope=scope, today=year.today)
    managed = _managed(facts.people(session, scope), year, fu)
    _under_management(d, managed)
    reviews = facts.followups(session, managed, since=year.starts[0], until=now)
    done_month = _followups(d, managed, reviews, year, fu)
    bp = _last_readings(
        session, d.residents["managed_hypertension"], "blood_pressure", managed, year
    )
    bp_ok = _bp_control(bp, managed, year, fu)
    glucose = _last_readings(session, d.residents["managed_diabetes"], "glucose", managed, year)
    glucose_ok = _glucose_control(glucose, fu)
    _control(d, "bp", d.residents["managed_hypertension"], bp_ok)
    _control(d, "glucose", d.residents["managed_diabetes"], glucose_ok)
    alerts = facts.alerts(session, managed, since=year.starts[0], until=now)
    urgent_month, ack_month = _urgent(d, alerts, year)
    d.residents["lost"] = _lost(session, managed, year, fu)
    d.months = _months(
        managed,
        year,
        fu,
        done_month=done_month,
        control=(bp_ok, glucose_ok),
        urgent=(urgent_month, ack_month),
    )
    return d


def _managed(people: dict[int, Person], year: Year, fu: FollowupRules) -> dict[int, Managed]:
    """The residents under management today (enrolled by today in either programme)."""
    out: dict[int, Managed] = {}
    for rid, p in people.items():
        ht = managed_on(p.hypertension, p.hypertension_enrolled_on, year.today)
        dm = managed_on(p.diabetes, p.diabetes_enrolled_on, year.today)
        if not (ht or dm):
            continue
        ht_since = (p.hypertension_enrolled_on or date.min) if ht else None
        dm_since = (p.diabetes_enrolled_on or date.min) if dm else None
        since = min(d for d in (ht_since, dm_since) if d is not None)
        first = first_period(since, year.today.year, fu)
        out[rid] = Managed(p, ht_since, dm_since, since, first)
    return out


def _under_management(d: Dashboard, managed: dict[int, Managed]) -> None:
    d.residents["managed"] = set(managed)
    d.residents["managed_hypertension"] = {
        rid for rid, m in managed.items() if m.hypertension_since is not None
    }
    d.residents["managed_diabetes"] = {
        rid for rid, m in managed.items() if m.diabetes_since is not None
    }


def _followups(
    d: Dashboard,
    managed: dict[int, Managed],
    done: Iterable[tuple[int, datetime]],
    year: Year,
    fu: FollowupRules,
) -> list[int]:
    """Each resident's follow-ups this year (from the day of enrolment) and state; returns
    the follow-ups done in each month (index 1-12)."""
    done_by: dict[int, int] = defaultdict(int)
    done_month = [0] * 13
    for rid, at in done:
        m = managed[rid]
        if m.since.year == year.today.year and at < year.start_of(m.since):
            continue  # not under management then: not a management follow-up
        done_by[rid] += 1
        done_month[year.month(at)] += 1
    for state in ("overdue", "due", "on_track", "done"):
        d.residents[f"followup_{state}"] = set()
    states: dict[tuple[int, int], tuple[date | None, str]] = {}  # a few (done, first) pairs
    for rid, m in managed.items():
        key = (done_by[rid], m.first)
        if key not in states:
            states[key] = next_due(key[0], year.today, fu, first=key[1])
        due_on, state = states[key]
        d.next_due[rid] = (key[0], due_on, state)
        d.residents[f"followup_{state}"].add(rid)
    d.followups_done = sum(done_month)
    d.followups_due = _due_by(managed, year.today.month, year, fu)
    return done_month


def _due_by(managed: dict[int, Managed], month: int, year: Year, fu: FollowupRules) -> int:
    """The follow-ups owed by the end of ``month``: each resident's periods ended."""
    firsts = Counter(m.first for m in managed.values())
    return sum(n * periods_ended(year.today.year, month, fu, first=f) for f, n in firsts.items())


Months = dict[int, list[tuple[int, datetime, tuple[float, ...]]]]
"""Resident → (month, when, values) of its last reading of each month, oldest first."""
Control = dict[int, list[tuple[int, bool]]]
"""Resident → (month, controlled) of its last reading of each month, oldest first."""


def _last_readings(
    session: Session, ids: set[int], kind: str, managed: dict[int, Managed], year: Year
) -> Months:
    """The months' last blood pressure or fasting glucose readings of these residents,
    each made from the day of enrolment in its programme on (a month whose last reading
    came before that day had none after it either)."""
    rows = facts.last_of_each_month(
        session, ids, kind=kind, month_starts=year.starts, until=year.now
    )
    starts: dict[int, datetime] = {}
    for rid in ids:
        since = managed[rid].since_in(kind)
        if since is not None and since.year == year.today.year:
            starts[rid] = year.start_of(since)
    out: Months = defaultdict(list)
    for r in rows:
        start = starts.get(r.resident_id)
        if start is None or r.measured_at >= start:
            out[r.resident_id].append((r.month, r.measured_at, r.values))
    return out


def _bp_control(
    rows: Months, managed: dict[int, Managed], year: Year, fu: FollowupRules
) -> Control:
    """Controlled by the limit of the resident's age on the reading's day (that day is
    worked out only for a resident who reaches ``elderly_age`` this year)."""
    out: Control = {}
    jan1, dec31 = year.ends[-1].replace(month=1, day=1), year.ends[-1]
    for rid, months in rows.items():
        birth = managed[rid].person.birth_date
        before, after = age_on(birth, jan1), age_on(birth, dec31)
        if (
            before is None
            or after is None
            or (before >= fu.elderly_age) == (after >= fu.elderly_age)
        ):
            out[rid] = [(m, bp_controlled(int(v[0]), int(v[1]), after, fu)) for m, _at, v in months]
        else:
            out[rid] = [
                (m, bp_controlled_on(int(v[0]), int(v[1]), birth, year.day(at), fu))
                for m, at, v in months
            ]
    return out


def _glucose_control(rows: Months, fu: FollowupRules) -> Control:
    return {
        rid: [(m, fasting_glucose_controlled(v[0], fu)) for m, _at, v in months]
        for rid, months in rows.items()
    }


def _control(d: Dashboard, prefix: str, in_programme: set[int], last: Control) -> None:
    """Today's figures: the last reading of the year so far."""
    seen = {rid for rid in in_programme if last.get(rid)}
    ok = {rid for rid in seen if last[rid][-1][1]}
    d.residents[f"{prefix}_controlled"] = ok
    d.residents[f"{prefix}_uncontrolled"] = seen - ok
    d.residents[f"{prefix}_no_reading"] = in_programme - seen


def _urgent(
    d: Dashboard, alerts: Iterable[facts.AlertFact], year: Year
) -> tuple[list[int], dict[int, list[float]]]:
    """Urgent readings, and the times to acknowledge (overall, per doctor); returns the
    urgent readings of each month and their times to acknowledge."""
    urgent_month = [0] * 13
    ack_month: dict[int, list[float]] = defaultdict(list)
    by_doctor: dict[int, list[float]] = defaultdict(list)
    d.residents["urgent"], d.residents["urgent_open"] = set(), set()
    all_ack: list[float] = []
    for a in alerts:
        m = year.month(a.measured_at)
        urgent_month[m] += 1
        d.residents["urgent"].add(a.resident_id)
        if a.acknowledged_at is None:
            d.residents["urgent_open"].add(a.resident_id)
            continue
        s = (a.acknowledged_at - a.measured_at).total_seconds()
        ack_month[m].append(s)
        all_ack.append(s)
        if a.acknowledged_by is not None:
            by_doctor[a.acknowledged_by].append(s)
    d.median_ack_s = statistics.median(all_ack) if all_ack else None
    d.per_doctor = sorted(
        (DoctorAck(doc, len(xs), statistics.median(xs)) for doc, xs in by_doctor.items()),
        key=lambda a: (-a.acknowledged, a.doctor_id),
    )
    return urgent_month, ack_month


def _lost(session: Session, managed: dict[int, Managed], year: Year, fu: FollowupRules) -> set[int]:
    """No reading and no follow-up for ``lost_to_followup_days``, known and under
    management for at least that long."""
    cutoff = year.now - timedelta(days=fu.lost_to_followup_days)
    day = year.day(cutoff)
    long_known = {
        rid for rid, m in managed.items() if m.person.created_at < cutoff and m.since <= day
    }
    return facts.without_contact(session, long_known, since=cutoff)


def _each_month(counted_from: dict[int, int], last: Control | None, months: int) -> list[int]:
    """Per month (index 1 to ``months``), the residents counted by then (from their month
    in ``counted_from``) and, with ``last``, whose last reading up to the month's end was
    controlled: one pass over the readings, each covering the months until the next."""
    diff = [0] * (months + 2)

    def add(lo: int, hi: int) -> None:
        if lo < hi:
            diff[lo] += 1
            diff[hi] -= 1

    for rid, start in counted_from.items():
        if last is None:
            add(start, months + 1)
            continue
        rows = last.get(rid, [])
        for k, (m, ok) in enumerate(rows):
            if ok:
                add(max(m, start), rows[k + 1][0] if k + 1 < len(rows) else months + 1)
    out, n = [0], 0
    for month in range(1, months + 1):
        n += diff[month]
        out.append(n)
    return out


def _months(
    managed: dict[int, Managed],
    year: Year,
    fu: FollowupRules,
    *,
    done_month: list[int],
    control: tuple[Control, Control],
    urgent: tuple[list[int], dict[int, list[float]]],
) -> list[Month]:
    """The year's months so far: each figure by the month's end."""
    bp_ok, glucose_ok = control
    urgent_month, ack_month = urgent
    now = year.today.month
    ht = {
        rid: year.month_of(m.hypertension_since)
        for rid, m in managed.items()
        if m.hypertension_since is not None
    }
    dm = {
        rid: year.month_of(m.diabetes_since)
        for rid, m in managed.items()
        if m.diabetes_since is not None
    }
    ht_n, dm_n = _each_month(ht, None, now), _each_month(dm, None, now)
    bp_n, gl_n = _each_month(ht, bp_ok, now), _each_month(dm, glucose_ok, now)
    out = []
    done_cum = 0
    for month in range(1, now + 1):
        done_cum += done_month[month]
        out.append(
            Month(
                month=month,
                followups_done=done_cum,
                followups_due=_due_by(managed, month, year, fu),
                bp_controlled=bp_n[month],
                glucose_controlled=gl_n[month],
                urgent=urgent_month[month],
                median_ack_s=statistics.median(ack_month[month]) if ack_month[month] else None,
                managed_hypertension=ht_n[month],
                managed_diabetes=dm_n[month],
            )
        )
    return out
