"""The dashboard's figures against a district counted by hand (tests/support/dashboard_data.py),
on SQLite and PostgreSQL, at every boundary of the control-rate definition."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from followup.db.engine import make_engine
from followup.web.dashboard import Dashboard, Scope, Year, compute
from healthkiosk.rules import load_rules
from tests.support.dashboard_data import BEIJING, NOW, District, build

RULES = load_rules()


@pytest.fixture
def district(followup_url: str) -> Iterator[tuple[Session, District]]:
    engine = make_engine(followup_url)
    with Session(engine) as s:
        d = build(s)
        s.commit()
        yield s, d
    engine.dispose()


def _dash(s: Session, scope: Scope) -> Dashboard:
    return compute(s, scope, now=NOW, tz=BEIJING, rules=RULES)


def test_doctor_figures_as_counted_by_hand(district: tuple[Session, District]) -> None:
    s, d = district
    dash = _dash(s, Scope(doctor=d.doctor_a))
    hts = [f"h{i}" for i in range(1, 14)]
    dms = ["d1", "d2", "d3", "d4"]
    r = dash.residents
    assert r["managed"] == d.of(*hts, *dms)
    assert r["managed_hypertension"] == d.of(*hts)
    assert r["managed_diabetes"] == d.of(*dms)
    # 139/89 yes, 140/89 and 139/90 no under 65; 149/89 yes, 150/89 and 149/90 no at 65+;
    # 145/80 yes on the 65th birthday (Beijing's day), no the day before; the last counts.
    assert r["bp_controlled"] == d.of("h1", "h4", "h7", "h9", "h11")
    assert r["bp_uncontrolled"] == d.of("h2", "h3", "h5", "h6", "h8")
    assert r["bp_no_reading"] == d.of("h10", "h12", "h13")
    assert dash.rate("bp_controlled", "managed_hypertension") == pytest.approx(5 / 13)
    # 6.9 yes, 7.0 no; a random glucose after a fasting 8.0 does not count.
    assert r["glucose_controlled"] == d.of("d1")
    assert r["glucose_uncontrolled"] == d.of("d2", "d3")
    assert r["glucose_no_reading"] == d.of("d4")
    assert dash.rate("glucose_controlled", "managed_diabetes") == pytest.approx(1 / 4)
    # Four a year, due by 31 Mar / 30 Jun / 30 Sep / 31 Dec; today 10 May.
    assert r["followup_done"] == d.of("h4")
    assert r["followup_on_track"] == d.of("h1")
    assert r["followup_due"] == d.of("h2")
    assert r["followup_overdue"] == d.of(*hts, *dms) - d.of("h1", "h2", "h4")
    assert dash.next_due[d.ids["h2"]][:2] == (1, NOW.date().replace(month=6, day=30))
    assert (dash.followups_done, dash.followups_due) == (7, 17)
    assert r["urgent"] == d.of("h2", "h3", "h6")
    assert r["urgent_open"] == d.of("h2")
    assert dash.median_ack_s == 3600  # 30 and 90 minutes
    assert [(a.doctor_id, a.acknowledged, a.median_s) for a in dash.per_doctor] == [
        (d.doctor_a, 1, 1800),
        (d.doctor_b, 1, 5400),
    ]
    assert r["lost"] == d.of("h12", "d4")
    months = [
        (
            m.month,
            m.followups_done,
            m.followups_due,
            m.bp_controlled,
            m.glucose_controlled,
            m.urgent,
            m.median_ack_s,
        )
        for m in dash.months
    ]
    assert months == [
        (1, 2, 0, 1, 0, 0, None),  # h2, h4 done; h11 controlled (1 Jan Beijing); d3 8.0
        (2, 4, 0, 1, 0, 1, 1800),  # h1, h4; h9 170/95 not; h6 urgent acked in 30 min
        (3, 5, 17, 2, 0, 1, 5400),  # h4; h7 controlled, h8 not; h3 urgent acked in 90 min
        (4, 7, 17, 5, 1, 0, None),  # h1, h4; h1, h4, h9 controlled; d1 6.9
        (5, 7, 17, 5, 1, 1, None),  # h2's urgent reading open
    ]


def test_area_and_whole_district(district: tuple[Session, District]) -> None:
    s, d = district
    east = _dash(s, Scope(area="东村"))
    assert east.residents["managed"] == d.of(*[f"h{i}" for i in range(1, 14)], "o1")
    assert east.residents["lost"] == d.of("h12", "o1")
    assert east.residents["bp_no_reading"] == d.of("h10", "h12", "h13", "o1")
    everyone = _dash(s, Scope())
    assert everyone.count("managed") == 18  # n1 is not enrolled
    b = _dash(s, Scope(doctor=d.doctor_b))
    assert b.residents["managed"] == d.of("o1")
    assert b.residents["urgent"] == set()  # B acknowledged h3's alert; h3 is A's


def test_scope_from_the_query() -> None:
    assert Scope.from_query({}, default_doctor=7) == Scope(7, None)
    assert Scope.from_query({"doctor": "all"}, default_doctor=7) == Scope(None, None)
    assert Scope.from_query({"area": "东村"}, default_doctor=7) == Scope(None, "东村")
    assert Scope.from_query({"doctor": "3", "area": "东村"}, default_doctor=7) == Scope(3, "东村")
    assert Scope.from_query({"doctor": "x"}, default_doctor=None) == Scope(None, None)


# --- the pages ------------------------------------------------------------------------


@pytest.fixture
def dr_a(tmp_path: Any) -> Iterator[tuple[Any, District]]:
    from followup.web.accounts import Lockout
    from followup.web.app import create_app
    from followup.web.common import WebSettings
    from tests.support.web import login

    engine = make_engine(f"sqlite:///{tmp_path / 'dash.sqlite'}")
    with Session(engine) as s:
        d = build(s)
        s.commit()
    settings = WebSettings(secret_key="k" * 64, lockout=Lockout(max_failures=5))
    app = create_app(engine, RULES, settings, clock=lambda: NOW, run_refresher=False)
    with TestClient(app, headers={"Accept-Language": "zh-CN"}) as c:
        login(c, "dr.a")
        yield c, d
    engine.dispose()


def _linked(page: str) -> dict[str, int]:
    return {k: int(n) for k, n in re.findall(r'data-figure="(\w+)" href="[^"]+">(\d+)</a>', page)}


def test_the_page_shows_the_figures_each_linked_to_its_residents(dr_a: Any) -> None:
    c, d = dr_a
    page = c.get("/dashboard").text
    assert "<h1>工作概况 · 2026</h1>" in page and "血压控制率" in page
    figs = _linked(page)
    assert figs["managed"] == 17 and figs["bp_controlled"] == 5 and figs["lost"] == 2
    assert figs["followup_overdue"] == 14 and figs["urgent_open"] == 1
    assert re.search(r'data-rate="bp_controlled">38\.5%<', page)
    assert re.search(r'data-rate="glucose_controlled">25\.0%<', page)
    assert page.count("<svg") == 3
    for key, n in figs.items():
        sub = c.get(f"/dashboard/residents?figure={key}&doctor={d.doctor_a}")
        assert sub.status_code == 200
        ids = {int(x) for x in re.findall(r'data-resident="(\d+)"', sub.text)}
        assert len(ids) == n, key
    sub = c.get(f"/dashboard/residents?figure=bp_uncontrolled&doctor={d.doctor_a}").text
    assert {int(x) for x in re.findall(r'data-resident="(\d+)"', sub)} == d.of(
        "h2", "h3", "h5", "h6", "h8"
    )
    area = _linked(c.get("/dashboard?area=东村").text)
    assert area["managed"] == 14 and area["lost"] == 2
    assert c.get("/dashboard/residents?figure=nope").status_code == 404


def test_the_last_reading_of_each_month_is_the_one_read_row_by_row(
    district: tuple[Session, District],
) -> None:
    """The window function (``dashboard_facts.last_of_each_month``) against every reading
    of the year read one by one, on both databases."""
    from bisect import bisect_right

    from sqlalchemy import select

    from followup.db.models import BP_FOR_CONTROL, FASTING_GLUCOSE, Reading, Resident
    from followup.web import dashboard_facts as facts

    s, _d = district
    year = Year.of(NOW, BEIJING)
    everyone = set(s.scalars(select(Resident.id)))
    for kind, usable, values in (
        ("blood_pressure", BP_FOR_CONTROL, (Reading.systolic_mmhg, Reading.diastolic_mmhg)),
        ("glucose", FASTING_GLUCOSE, (Reading.glucose_mmol_per_l,)),
    ):
        expected: dict[tuple[int, int], tuple[Any, ...]] = {}
        rows = s.execute(
            select(Reading.resident_id, Reading.measured_at, *values)
            .where(usable, Reading.measured_at >= year.starts[0], Reading.measured_at <= NOW)
            .order_by(Reading.measured_at)
        )
        for rid, at, *v in rows:
            expected[rid, bisect_right(year.starts, at)] = (at, *v)
        got = facts.last_of_each_month(s, everyone, kind=kind, month_starts=year.starts, until=NOW)
        assert {(r.resident_id, r.month): (r.measured_at, *r.values) for r in got} == expected
        assert len(got) == len(expected) > 0, kind
        assert [r.resident_id for r in got] == sorted(r.resident_id for r in got)


def test_the_rules_in_python_count_as_sql_does(
    district: tuple[Session, District], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Residents whose limit holds all year are decided and counted by SQL
    (``dashboard_facts.controlled_months``); here everyone goes the other way (each
    month's last reading decided by ``healthkiosk.rules.control``): the same figures."""
    import followup.web.dashboard_control as control

    s, d = district
    for scope in (Scope(doctor=d.doctor_a), Scope(area="东村"), Scope()):
        split = _dash(s, scope)
        monkeypatch.setattr(control, "_steady", lambda *_args: False)
        in_python = _dash(s, scope)
        monkeypatch.undo()
        assert in_python.residents == split.residents
        assert in_python.months == split.months


def test_one_figure_alone_is_the_same_figure(district: tuple[Session, District]) -> None:
    """The residents behind a figure compute only that figure's kind: the same residents."""
    from followup.web.dashboard import FIGURES

    s, d = district
    whole = _dash(s, Scope(doctor=d.doctor_a))
    for figure in FIGURES:
        alone = compute(
            s, Scope(doctor=d.doctor_a), now=NOW, tz=BEIJING, rules=RULES, figure=figure
        )
        assert alone.residents[figure] == whole.residents[figure], figure
        assert alone.next_due == whole.next_due


def test_each_residents_systolic_limit_goes_with_its_id() -> None:
    """SQL compares each steady resident's readings with the limit sent beside its id
    (``dashboard_facts.controlled_months``): 150 for one 65 or over all year (born by
    1 January 65 years before), 140 otherwise and when the birth date is not known."""
    from datetime import date, timedelta

    from followup.web.dashboard_control import limits

    lim = limits(Year.of(NOW, BEIJING), RULES.followup)
    born_by = date(NOW.astimezone(BEIJING).year - RULES.followup.elderly_age, 1, 1)
    assert lim.elderly_born_by == born_by
    assert lim.systolic_below_for(born_by) == RULES.followup.elderly_controlled_systolic_below
    assert lim.systolic_below_for(born_by - timedelta(days=9000)) == 150
    assert lim.systolic_below_for(born_by + timedelta(days=1)) == 140
    assert lim.systolic_below_for(None) == RULES.followup.controlled_systolic_below == 140
