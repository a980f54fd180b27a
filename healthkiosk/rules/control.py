"""Control and the year's follow-ups, as the dashboard counts them (docs/clinical.md,
"Dashboard"): 国家基本公共卫生服务规范(第三版)'s control rates and four follow-ups a year,
owed from the period a resident was enrolled in (the roster's 纳入管理日期).

Pure functions: no database, no clock.
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Literal

from healthkiosk.rules.config import FollowupRules
from healthkiosk.rules.status import age_on

FollowupState = Literal["overdue", "due", "on_track", "done"]


def bp_controlled(systolic: int, diastolic: int, age: int | None, rules: FollowupRules) -> bool:
    """Below 140/90, or below 150/90 at ``elderly_age`` and over (the age on the day of
    the reading; unknown age: the stricter limit)."""
    elderly = age is not None and age >= rules.elderly_age
    limit = rules.elderly_controlled_systolic_below if elderly else rules.controlled_systolic_below
    return systolic < limit and diastolic < rules.controlled_diastolic_below


def bp_controlled_on(
    systolic: int, diastolic: int, birth: date | None, on: date, rules: FollowupRules
) -> bool:
    """:func:`bp_controlled` for a reading made on ``on`` (the birthday counts as the new age)."""
    return bp_controlled(systolic, diastolic, age_on(birth, on), rules)


def fasting_glucose_controlled(mmol_per_l: float, rules: FollowupRules) -> bool:
    return mmol_per_l < rules.controlled_fasting_glucose_below


def period_end(year: int, k: int, rules: FollowupRules) -> date:
    """The last day of the k-th (1-based) of the year's ``followups_per_year`` periods."""
    month = k * (12 // rules.followups_per_year)
    return date(year, month, calendar.monthrange(year, month)[1])


def managed_on(programme: bool, enrolled_on: date | None, day: date) -> bool:
    """Under a programme's management on ``day``: enrolled in it by then (an unknown
    enrolment date: since before any day that matters)."""
    return programme and (enrolled_on is None or enrolled_on <= day)


def first_period(enrolled_on: date | None, year: int, rules: FollowupRules) -> int:
    """The first of ``year``'s periods (1-based) a resident owes a follow-up for: the
    period the enrolment falls in, 1 when enrolled before the year or on an unknown date,
    ``followups_per_year + 1`` (none owed) when enrolled after it."""
    if enrolled_on is None or enrolled_on.year < year:
        return 1
    if enrolled_on.year > year:
        return rules.followups_per_year + 1
    return (enrolled_on.month - 1) // (12 // rules.followups_per_year) + 1


def periods_ended(year: int, by_month: int, rules: FollowupRules, *, first: int = 1) -> int:
    """How many of the periods owed (from the ``first``, see :func:`first_period`) have
    ended by the end of ``by_month`` (1-12) of ``year``."""
    return max(0, by_month // (12 // rules.followups_per_year) - (first - 1))


def next_due(
    done: int, today: date, rules: FollowupRules, *, first: int = 1
) -> tuple[date | None, FollowupState]:
    """The next follow-up's due date this year and the resident's state, after ``done``
    follow-ups this year, owed from period ``first`` on (:func:`first_period`):
    ``overdue`` (its date has passed), ``due`` (by the end of the current period),
    ``on_track`` (later), ``done`` (the year's follow-ups are all done)."""
    n = rules.followups_per_year
    if first + done > n:
        return None, "done"
    due_on = period_end(today.year, first + done, rules)
    if due_on < today:
        return due_on, "overdue"
    current = next(k for k in range(1, n + 1) if period_end(today.year, k, rules) >= today)
    if due_on <= period_end(today.year, current, rules):
        return due_on, "due"
    return due_on, "on_track"
