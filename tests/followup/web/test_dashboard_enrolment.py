"""The dashboard with the roster's enrolment dates, against residents counted by hand
(tests/support/dashboard_enrolment_data.py), on SQLite and PostgreSQL: under management
from the day of enrolment, follow-ups owed from its quarter (docs/clinical.md, "Dashboard")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.web.dashboard import Scope, compute
from healthkiosk.rules import load_rules
from tests.support.dashboard_data import BEIJING, NOW
from tests.support.dashboard_enrolment_data import Enrolled, build

RULES = load_rules()


@pytest.fixture
def enrolled(followup_url: str) -> Iterator[tuple[Session, Enrolled]]:
    engine = make_engine(followup_url)
    with Session(engine) as s:
        e = build(s)
        s.commit()
        yield s, e
    engine.dispose()


def test_figures_count_from_the_day_of_enrolment(enrolled: tuple[Session, Enrolled]) -> None:
    s, e = enrolled
    dash = compute(s, Scope(doctor=e.doctor), now=NOW, tz=BEIJING, rules=RULES)
    r = dash.residents
    # e2 is enrolled tomorrow: in no figure.
    assert r["managed"] == e.of("e1", "e3", "e4", "e5", "e6", "e7", "e8")
    assert r["managed_hypertension"] == e.of("e1", "e4", "e5", "e6", "e7", "e8")
    assert r["managed_diabetes"] == e.of("e3", "e4")
    # Owed from the quarter of enrolment, counted from its day.
    assert r["followup_overdue"] == e.of("e3", "e6", "e7")
    assert r["followup_due"] == e.of("e4", "e8")
    assert r["followup_on_track"] == e.of("e1", "e5")
    assert r["followup_done"] == set()
    assert dash.next_due[e.ids["e1"]][:2] == (1, NOW.date().replace(month=9, day=30))
    assert dash.next_due[e.ids["e8"]][:2] == (0, NOW.date().replace(month=6, day=30))
    assert (dash.followups_done, dash.followups_due) == (3, 4)
    # Readings from the day of enrolment (the district's day).
    assert r["bp_controlled"] == e.of("e1", "e4")
    assert r["bp_uncontrolled"] == e.of("e5")
    assert r["bp_no_reading"] == e.of("e6", "e7", "e8")
    assert r["glucose_controlled"] == e.of("e3")
    assert r["glucose_no_reading"] == e.of("e4")
    assert r["lost"] == e.of("e7")
    assert r["urgent"] == set()
    months = [
        (
            m.month,
            m.managed_hypertension,
            m.managed_diabetes,
            m.followups_done,
            m.followups_due,
            m.bp_controlled,
            m.glucose_controlled,
        )
        for m in dash.months
    ]
    assert months == [
        (1, 3, 1, 1, 0, 0, 0),  # e4, e6, e7; e3; e4's January follow-up
        (2, 3, 1, 1, 0, 1, 1),  # e4 130/80; e3 6.5
        (3, 3, 1, 1, 4, 1, 1),  # Q1 owed by e3, e4, e6, e7; e1's and e5's calls too early
        (4, 6, 1, 3, 4, 2, 1),  # e1, e5, e8 enrolled; e1, e5 done; e1 120/80
        (5, 6, 2, 3, 4, 2, 1),  # e4 in diabetes management today; e5 150/95
    ]


def test_an_unknown_enrolment_date_is_the_year_before(enrolled: tuple[Session, Enrolled]) -> None:
    """Without a date the flag alone counts, from before the year (as before rosters)."""
    from followup.db.models import Resident

    s, e = enrolled
    for name in ("e1", "e5", "e8"):
        row = s.get(Resident, e.ids[name])
        assert row is not None
        row.hypertension_enrolled_on = None
    s.flush()
    dash = compute(s, Scope(doctor=e.doctor), now=NOW, tz=BEIJING, rules=RULES)
    assert dash.months[0].managed_hypertension == 6
    assert dash.residents["bp_controlled"] == e.of("e1", "e4", "e8")  # e8's 14 April counts
    # e1's March call and e5's of 31 March count: two done each, the next due 30 Sep.
    assert dash.residents["followup_on_track"] == e.of("e1", "e5")
    assert dash.residents["followup_due"] == e.of("e4")
    assert dash.residents["followup_overdue"] == e.of("e3", "e6", "e7", "e8")
    assert dash.followups_done == 5
