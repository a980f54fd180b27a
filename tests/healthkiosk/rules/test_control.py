"""Control and the year's follow-ups (docs/clinical.md, "Dashboard"), boundaries on both sides."""

from __future__ import annotations

from datetime import date

import pytest

from healthkiosk.rules import load_rules
from healthkiosk.rules.control import (
    bp_controlled,
    bp_controlled_on,
    fasting_glucose_controlled,
    first_period,
    managed_on,
    next_due,
    period_end,
    periods_ended,
)

FU = load_rules().followup


@pytest.mark.parametrize(
    ("s", "d", "age", "ok"),
    [
        (139, 89, 64, True),
        (140, 89, 64, False),
        (139, 90, 64, False),
        (149, 89, 65, True),
        (150, 89, 65, False),
        (149, 90, 65, False),
        (145, 80, None, False),  # age unknown: the stricter limit
    ],
)
def test_bp_control_boundaries(s: int, d: int, age: int | None, ok: bool) -> None:
    assert bp_controlled(s, d, age, FU) is ok


def test_the_65th_birthday_counts_as_65() -> None:
    birth = date(1961, 3, 15)
    assert bp_controlled_on(145, 80, birth, date(2026, 3, 15), FU)
    assert not bp_controlled_on(145, 80, birth, date(2026, 3, 14), FU)


def test_fasting_glucose_boundary() -> None:
    assert fasting_glucose_controlled(6.9, FU)
    assert not fasting_glucose_controlled(7.0, FU)


def test_four_periods_and_next_due() -> None:
    assert [period_end(2026, k, FU) for k in (1, 2, 3, 4)] == [
        date(2026, 3, 31),
        date(2026, 6, 30),
        date(2026, 9, 30),
        date(2026, 12, 31),
    ]
    assert [periods_ended(2026, m, FU) for m in (2, 3, 5, 6, 12)] == [0, 1, 1, 2, 4]
    assert next_due(0, date(2026, 3, 31), FU) == (date(2026, 3, 31), "due")
    assert next_due(0, date(2026, 4, 1), FU) == (date(2026, 3, 31), "overdue")
    assert next_due(1, date(2026, 4, 1), FU) == (date(2026, 6, 30), "due")
    assert next_due(2, date(2026, 4, 1), FU) == (date(2026, 9, 30), "on_track")
    assert next_due(4, date(2026, 4, 1), FU) == (None, "done")


def test_follow_ups_are_owed_from_the_period_of_enrolment() -> None:
    # Enrolled 10 May 2026: the second quarter's, third's and fourth's, by 30 Jun,
    # 30 Sep and 31 Dec; the first quarter's is not owed.
    assert [
        first_period(d, 2026, FU)
        for d in (
            None,
            date(2025, 11, 3),
            date(2026, 1, 1),
            date(2026, 3, 31),
            date(2026, 4, 1),
            date(2026, 5, 10),
            date(2026, 12, 31),
            date(2027, 1, 1),
        )
    ] == [1, 1, 1, 1, 2, 2, 4, 5]
    assert [periods_ended(2026, m, FU, first=2) for m in (3, 5, 6, 9, 12)] == [0, 0, 1, 2, 3]
    assert periods_ended(2026, 12, FU, first=5) == 0
    may10 = date(2026, 5, 10)
    assert next_due(0, may10, FU, first=2) == (date(2026, 6, 30), "due")
    assert next_due(0, date(2026, 7, 1), FU, first=2) == (date(2026, 6, 30), "overdue")
    assert next_due(1, may10, FU, first=2) == (date(2026, 9, 30), "on_track")
    assert next_due(2, may10, FU, first=2) == (date(2026, 12, 31), "on_track")
    assert next_due(3, may10, FU, first=2) == (None, "done")
    assert next_due(0, date(2026, 12, 31), FU, first=4) == (date(2026, 12, 31), "due")


def test_under_management_from_the_day_of_enrolment() -> None:
    may10 = date(2026, 5, 10)
    assert managed_on(True, may10, may10)
    assert not managed_on(True, may10, date(2026, 5, 9))
    assert managed_on(True, None, date(2000, 1, 1))  # no date known: always
    assert not managed_on(False, None, may10)


def test_followups_per_year_must_divide_the_year() -> None:
    from healthkiosk.rules import RulesError

    with pytest.raises(RulesError, match="followups_per_year"):
        load_rules({"followup": {"followups_per_year": 5}})
    assert load_rules({"followup": {"followups_per_year": 6}}).followup.followups_per_year == 6
