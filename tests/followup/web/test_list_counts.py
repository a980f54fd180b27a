"""The list's counts come from one grouped query: they must equal each section's own count."""

from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy.orm import Session

from followup.db.status_store import refresh_residents
from followup.web.listing import SECTIONS, ListFilters, _section_query, count_sections
from healthkiosk.rules import load_rules
from tests.support.followup_data import add_reading, add_resident
from tests.support.web import DISTRICT, World, district_day


def test_grouped_counts_equal_each_sections_count_under_every_filter(world: World) -> None:
    rules = load_rules()
    now = world.now
    with Session(world.engine) as s, s.begin():
        # more residents in every bucket: long overdue, urgent glucose, abnormal BP elsewhere
        ids = [world.urgent_id, world.abnormal_id, world.overdue_id]
        for i in range(6):
            r = add_resident(s, name=f"R{i}", hypertension=i % 2 == 0, diabetes=i % 3 == 0)
            days = [2, 30, 200, 500, 900, 3][i]
            if i % 2:
                add_reading(s, r, measured_at=now - timedelta(days=days), glucose=17.0 + i)
            else:
                add_reading(
                    s, r, measured_at=now - timedelta(days=days), systolic=150, diastolic=95
                )
            r.responsible_doctor_id = world.doctor_id if i < 3 else None
            ids.append(r.id)
        for days in (500, 900):  # enrolled, normal, long ago: overdue more than a year
            r = add_resident(s, name=f"L{days}", hypertension=True, station="st-002")
            add_reading(s, r, measured_at=now - timedelta(days=days), systolic=118, diastolic=76)
            ids.append(r.id)
        refresh_residents(s, ids, rules=rules, now=now, tz=DISTRICT)
    filters = [
        ListFilters(station=st, kind=k, status=stt, doctor=d, date_from=df)
        for st, k, stt, d, df in itertools.product(
            [None, "st-002"],
            [None, "blood_pressure", "glucose"],
            [None, "urgent", "overdue"],
            [None, "none", "all", str(world.doctor_id)],
            [None, (now - timedelta(days=400)).date()],
        )
    ]
    nonzero = 0
    with Session(world.engine) as s:
        for f in filters:
            got = count_sections(s, f, today=district_day(now), rules=rules)
            want = {
                sec: s.scalar(
                    _section_query(
                        sec, f, today=district_day(now), rules=rules, columns=[func.count()]
                    )
                )
                for sec in SECTIONS
                if f.wants(sec)
            }
            assert got == want, f
            nonzero += sum(1 for v in got.values() if v)
        unfiltered = count_sections(s, ListFilters(), today=district_day(now), rules=rules)
    assert all(unfiltered[sec] > 0 for sec in SECTIONS), unfiltered
    assert nonzero > 50
