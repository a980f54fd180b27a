"""The dashboard's figures: per doctor or per area, this year, by month (docs/clinical.md,
"Dashboard"). Every figure keeps the residents behind it, so each links to them.

The facts come from :mod:`followup.web.dashboard_facts` (SQL); who is under management
since when from :mod:`~followup.web.dashboard_people`, the control rates from
:mod:`~followup.web.dashboard_control`; the follow-ups, urgent readings and the lost are
counted here. Months, ages and enrolment days go by the district's day.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy.orm import Session

from followup.web import dashboard_facts as facts
from followup.web.dashboard_control import ControlFigures, control_figures
from followup.web.dashboard_facts import Scope
from followup.web.dashboard_people import Managed, Year, under_management
from healthkiosk.rules import RulesConfig
from healthkiosk.rules.config import FollowupRules
from healthkiosk.rules.control import next_due, periods_ended

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


def compute(
    session: Session,
    scope: Scope,
    *,
    now: datetime,
    tz: tzinfo,
    rules: RulesConfig,
    figure: str | None = None,
) -> Dashboard:
    """The dashboard of ``scope``; with ``figure`` (one of :data:`FIGURES`) only what
    the residents behind that figure need: who is under management, everyone's
    follow-ups (that page shows each one's) and the figure's own kind, no months."""
    fu = rules.followup
    year = Year.of(now, tz)
    d = Dashboard(scope=scope, today=year.today)
    managed = under_management(facts.people(session, scope), year, fu)
    _under_management(d, managed)
    reviews = facts.followups(session, managed, since=year.starts[0], until=now)
    done_month = _followups(d, managed, reviews, year, fu)
    if figure is not None:
        _one_figure(session, d, figure, managed=managed, year=year, fu=fu)
        return d
    bp = control_figures(session, "blood_pressure", managed, year, fu)
    glucose = control_figures(session, "glucose", managed, year, fu)
    _control(d, "bp", d.residents["managed_hypertension"], bp)
    _control(d, "glucose", d.residents["managed_diabetes"], glucose)
    alerts = facts.alerts(session, managed, since=year.starts[0], until=now)
    urgent_month, ack_month = _urgent(d, alerts, year)
    d.residents["lost"] = _lost(session, managed, year, fu)
    d.months = _months(
        managed,
        year,
        fu,
        done_month=done_month,
        control=(bp, glucose),
        urgent=(urgent_month, ack_month),
    )
    return d


def _one_figure(
    session: Session,
    d: Dashboard,
    figure: str,
    *,
    managed: dict[int, Managed],
    year: Year,
    fu: FollowupRules,
) -> None:
    """The figures of ``figure``'s kind (control, urgent readings, the lost); under
    management and follow-ups are there already."""
    if figure.startswith("bp_"):
        bp = control_figures(session, "blood_pressure", managed, year, fu)
        _control(d, "bp", d.residents["managed_hypertension"], bp)
    elif figure.startswith("glucose_"):
        glucose = control_figures(session, "glucose", managed, year, fu)
        _control(d, "glucose", d.residents["managed_diabetes"], glucose)
    elif figure.startswith("urgent"):
        _urgent(d, facts.alerts(session, managed, since=year.starts[0], until=year.now), year)
    elif figure == "lost":
        d.residents["lost"] = _lost(session, managed, year, fu)


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
    d.followups_due = _due_by(
        Counter(m.first for m in managed.values()), year.today.month, year, fu
    )
    return done_month


def _due_by(firsts: Counter[int], month: int, year: Year, fu: FollowupRules) -> int:
    """The follow-ups owed by the end of ``month``: each resident's periods ended (the
    residents counted by the first period they owe)."""
    return sum(n * periods_ended(year.today.year, month, fu, first=f) for f, n in firsts.items())


def _control(d: Dashboard, prefix: str, in_programme: set[int], c: ControlFigures) -> None:
    """Today's figures: the last reading of the year so far."""
    d.residents[f"{prefix}_controlled"] = c.controlled
    d.residents[f"{prefix}_uncontrolled"] = c.with_reading - c.controlled
    d.residents[f"{prefix}_no_reading"] = in_programme - c.with_reading


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


def _in_programme_by_month(since: list[date], year: Year) -> list[int]:
    """Per month (index 1 to this month), the residents in a programme by its end."""
    starting = Counter(year.month_of(day) for day in since)
    out, n = [0], 0
    for month in range(1, year.today.month + 1):
        n += starting[month]
        out.append(n)
    return out


def _months(
    managed: dict[int, Managed],
    year: Year,
    fu: FollowupRules,
    *,
    done_month: list[int],
    control: tuple[ControlFigures, ControlFigures],
    urgent: tuple[list[int], dict[int, list[float]]],
) -> list[Month]:
    """The year's months so far: each figure by the month's end."""
    bp, glucose = control
    urgent_month, ack_month = urgent
    ht_n = _in_programme_by_month(
        [m.hypertension_since for m in managed.values() if m.hypertension_since is not None], year
    )
    dm_n = _in_programme_by_month(
        [m.diabetes_since for m in managed.values() if m.diabetes_since is not None], year
    )
    firsts = Counter(m.first for m in managed.values())
    out = []
    done_cum = 0
    for month in range(1, year.today.month + 1):
        done_cum += done_month[month]
        out.append(
            Month(
                month=month,
                followups_done=done_cum,
                followups_due=_due_by(firsts, month, year, fu),
                bp_controlled=bp.by_month[month],
                glucose_controlled=glucose.by_month[month],
                urgent=urgent_month[month],
                median_ack_s=statistics.median(ack_month[month]) if ack_month[month] else None,
                managed_hypertension=ht_n[month],
                managed_diabetes=dm_n[month],
            )
        )
    return out
