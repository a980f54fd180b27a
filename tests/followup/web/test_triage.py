"""Triage for a morning's calls: my residents by default, the longest waiting at the top,
"waiting N days" in red past the review-by date, the no-answer outcome and its count,
the call sheet's outcome columns."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from followup.db.alerts import Alert
from followup.db.engine import make_engine
from followup.db.models import Reading
from followup.db.reviews import Review
from followup.web.accounts import add_user
from tests.support.followup_data import add_reading, add_resident, add_station
from tests.support.web import DISTRICT, PASSWORD, World, csrf, login, make_client


def _rows(page: str, section: str) -> list[int]:
    m = re.search(rf'<section id="section-{section}">(.*?)</section>', page, re.S)
    assert m, section
    return [int(x) for x in re.findall(r'data-resident="(\d+)"', m.group(1))]


@pytest.fixture
def town(followup_url: str) -> Iterator[tuple[World, dict[str, int]]]:
    engine = make_engine(followup_url)
    now = datetime.now(UTC)
    # "today" is the district's day (Beijing's: from 16:00 UTC the next calendar
    # day): today's readings fall between its midnight and now, in this order
    midnight = now.astimezone(DISTRICT).replace(hour=0, minute=0, second=0, microsecond=0)
    today = now - midnight
    ids: dict[str, int] = {}
    with Session(engine) as s, s.begin():
        add_station(s)
        a = add_user(s, username="dr.a", password=PASSWORD, role="doctor", now=now)
        b = add_user(s, username="dr.b", password=PASSWORD, role="doctor", now=now)
        add_user(s, username="dr.new", password=PASSWORD, role="doctor", now=now)
        for name, doctor, ago, bp in (
            ("recent_urgent", a, today / 2, (186, 112)),
            ("old_urgent", a, timedelta(hours=30), (190, 100)),
            ("late_abnormal", a, timedelta(days=20), (150, 95)),  # review by 14 days: past
            ("fresh_abnormal", a, timedelta(days=3), (152, 96)),
            ("b_urgent", b, today / 4, (200, 120)),
        ):
            r = add_resident(s, name=name, hypertension=True)
            r.responsible_doctor_id = doctor.id
            add_reading(s, r, measured_at=now - ago, systolic=bp[0], diastolic=bp[1])
            ids[name] = r.id
        ids["dr.a"], ids["dr.b"] = a.id, b.id
    w = World(engine, now, ids["recent_urgent"], ids["late_abnormal"], 0, ids["dr.a"], ids["dr.b"])
    yield w, ids
    engine.dispose()


@pytest.fixture
def dr_a(town: tuple[World, dict[str, int]]) -> Iterator[TestClient]:
    with make_client(town[0]) as c:
        _wait(c, 5)
        login(c, "dr.a")
        yield c


def _wait(c: TestClient, n: int) -> None:
    import time

    from followup.db.status import ResidentStatusRow

    engine = c.app.state.hk.engine  # type: ignore[attr-defined]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with Session(engine) as s:
            if s.query(ResidentStatusRow).count() >= n:
                return
        time.sleep(0.1)
    raise AssertionError("status refresher did not run")


def test_my_residents_by_default_longest_waiting_first(
    dr_a: TestClient, town: tuple[World, dict[str, int]]
) -> None:
    _w, ids = town
    page = dr_a.get("/list").text
    assert _rows(page, "urgent") == [ids["old_urgent"], ids["recent_urgent"]]
    assert _rows(page, "abnormal") == [ids["late_abnormal"], ids["fresh_abnormal"]]
    assert 'href="/list?doctor=all"' in page  # the filter for everyone
    everyone = dr_a.get("/list?doctor=all").text
    assert _rows(everyone, "urgent") == [ids["old_urgent"], ids["recent_urgent"], ids["b_urgent"]]
    # the live rows keep the scope
    assert f'data-src="/list/rows?doctor={ids["dr.a"]}"' in page


def test_a_resident_given_to_another_doctor_moves_to_their_list(
    dr_a: TestClient, town: tuple[World, dict[str, int]]
) -> None:
    """The list filters on the status row's copy of the responsible doctor: the edit
    that changes the doctor refreshes it."""
    _w, ids = town
    rid = ids["b_urgent"]
    assert rid not in _rows(dr_a.get("/list").text, "urgent")
    token = csrf(dr_a, f"/residents/{rid}")
    form = {"csrf": token, "hypertension": "on", "responsible_doctor": str(ids["dr.a"])}
    assert dr_a.post(f"/residents/{rid}/edit", data=form).status_code == 200
    assert rid in _rows(dr_a.get("/list").text, "urgent")
    assert rid not in _rows(dr_a.get(f"/list?doctor={ids['dr.b']}").text, "urgent")


def test_waiting_days_red_past_the_review_by_date(dr_a: TestClient, town: Any) -> None:
    _w, ids = town
    page = dr_a.get("/list").text

    def waiting(rid: int) -> str:
        m = re.search(rf'data-resident="{rid}".*?<div class="(waiting[^"]*)">([^<]*)<', page, re.S)
        assert m, rid
        return f"{m.group(1)}|{m.group(2)}"

    assert waiting(ids["late_abnormal"]) == "waiting late|waiting 20 days"
    assert waiting(ids["fresh_abnormal"]) == "waiting|waiting 3 days"
    assert waiting(ids["recent_urgent"]) == "waiting|waiting 0 days"


def test_a_doctor_without_residents_sees_everyone(town: tuple[World, dict[str, int]]) -> None:
    with make_client(town[0]) as c:
        _wait(c, 5)
        login(c, "dr.new")
        assert len(_rows(c.get("/list").text, "urgent")) == 3


def _no_answer(c: TestClient, rid: int) -> None:
    r = c.post(
        f"/residents/{rid}/reviews",
        data={"csrf": csrf(c, "/list"), "method": "phone", "outcome": "no_answer"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/list"


def test_no_answer_keeps_the_resident_on_the_list_and_counts(
    dr_a: TestClient, town: tuple[World, dict[str, int]]
) -> None:
    world, ids = town
    rid = ids["old_urgent"]
    _no_answer(dr_a, rid)
    page = dr_a.get("/list").text
    assert "No answer recorded for old_urgent: kept on the list." in page
    assert rid in _rows(page, "urgent")
    assert re.search(rf'data-resident="{rid}".*?data-attempts="1"', page, re.S)
    _no_answer(dr_a, rid)
    page = dr_a.get("/list").text
    assert re.search(
        rf'data-resident="{rid}".*?data-attempts="2".*?2 calls not answered', page, re.S
    )
    csv_rows = dr_a.get("/list.csv").text.lstrip("\ufeff").splitlines()
    assert csv_rows[0].endswith(",call_attempts")
    assert any(r.split(",")[1] == str(rid) and r.endswith(",2") for r in csv_rows[1:])
    with Session(world.engine) as s:
        assert s.scalars(select(Reading.reviewed_at).where(Reading.resident_id == rid)).all() == [
            None
        ]
        alert = s.scalars(select(Alert).where(Alert.resident_id == rid)).one()
        assert alert.acknowledged_by == ids["dr.a"]  # the doctor is on it: no escalation
        assert [v.outcome for v in s.scalars(select(Review).where(Review.resident_id == rid))] == [
            "no_answer",
            "no_answer",
        ]
    # reached at last: the count starts again and the resident leaves the list
    page = dr_a.get(f"/residents/{rid}").text
    seen = re.search(r'name="seen_until" value="([^"]*)"', page)
    assert seen
    r = dr_a.post(
        f"/residents/{rid}/reviews",
        data={
            "csrf": csrf(dr_a, "/list"),
            "method": "phone",
            "outcome": "agreed_to_visit",
            "seen_until": seen.group(1),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert rid not in _rows(dr_a.get("/list").text, "urgent")
    # the resident page keeps the whole history, attempts included
    history = dr_a.get(f"/residents/{rid}").text
    assert history.count("No answer") >= 2 and "Contacted: agreed to come" in history


def test_the_call_sheet_has_outcome_columns(dr_a: TestClient) -> None:
    page = dr_a.get("/list/print").text
    for col in ("Call attempts", "Reached: agreed to come", "No answer", "Remind later", "Note"):
        assert f">{col}</th>" in page
    assert 'class="no-answer"' not in page  # no buttons on paper
    assert page.count('<td class="outcome">☐</td>') == 4 * 4  # 4 rows × 4 boxes


def test_no_answer_leaves_an_overdue_resident_overdue(doctor: TestClient, world: World) -> None:
    """A call attempt is not a contact: the status refresher ignores it."""
    assert world.overdue_id in _rows(doctor.get("/list").text, "overdue")
    _no_answer(doctor, world.overdue_id)
    page = doctor.get("/list").text
    assert world.overdue_id in _rows(page, "overdue")
    assert re.search(rf'data-resident="{world.overdue_id}".*?data-attempts="1"', page, re.S)
