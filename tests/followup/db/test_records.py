"""The record's pre-fill read from the database (SQLite and PostgreSQL): the readings since
the last record of the same kind, else the last quarter; only those that had arrived."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.db.records import load_prefill, new_record
from followup.db.reviews import RECORD_OUTCOME, save_review
from followup.record.fields import RecordContent
from followup.record.prefill import compute_prefill
from followup.web.accounts import add_user
from healthkiosk.rules import load_rules
from tests.support.followup_data import add_reading, add_resident, add_station

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
RULES = load_rules()


@pytest.fixture
def engine(followup_url: str) -> Iterator[Engine]:
    e = make_engine(followup_url)
    yield e
    e.dispose()


def test_prefill_since_the_last_record_of_the_same_kind(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        add_station(s)
        doctor = add_user(s, username="dr.li", password="x" * 12, role="doctor", now=NOW)
        res = add_resident(s, name="赵敏", hypertension=True, diabetes=True)
        add_reading(s, res, measured_at=NOW - timedelta(days=100), systolic=200, diastolic=120)
        add_reading(s, res, measured_at=NOW - timedelta(days=40), systolic=160, diastolic=100)
        add_reading(s, res, measured_at=NOW - timedelta(days=40), glucose=9.0, meal="fasting")
        rid, did = res.id, doctor.id

    with Session(engine) as s:
        # no record yet: the last 90 days (the 100-day-old reading is out)
        p = load_prefill(s, rid, "hypertension", now=NOW, rules=RULES)
        assert (p.systolic_mmhg, p.bp_count, p.since) == (160, 1, None)

    saved_at = NOW - timedelta(days=30)
    with Session(engine) as s, s.begin():
        rev = save_review(
            s,
            resident_id=rid,
            doctor_id=did,
            now=saved_at,
            seen_until=saved_at,
            method="clinic",
            outcome=RECORD_OUTCOME,
        )
        assert rev.readings and len(rev.readings) == 3  # every open reading it had seen
        content = RecordContent(
            kind="hypertension",
            visit_date=date(2026, 11, 7),
            way="clinic",
            classification="unsatisfactory",
            next_visit_on=date(2026, 11, 21),
            doctor_signature="李医生",
        )
        s.add(
            new_record(
                resident_id=rid,
                doctor_id=did,
                review_id=rev.id,
                content=content,
                prefill=compute_prefill([], since=None),
                now=saved_at,
            )
        )
        r = s.get(type(res), rid)
        assert r is not None
        add_reading(s, r, measured_at=NOW - timedelta(days=10), systolic=144, diastolic=88)
        late = add_reading(
            s,
            r,
            measured_at=NOW - timedelta(days=5),
            systolic=150,
            diastolic=95,
            received_at=NOW - timedelta(hours=1),
        )
        add_reading(s, r, measured_at=NOW - timedelta(days=20), glucose=7.7, meal="fasting")
        late_at = late.received_at

    with Session(engine) as s:
        p = load_prefill(s, rid, "hypertension", now=NOW, rules=RULES)
        assert p.since == saved_at
        assert (p.systolic_mmhg, p.diastolic_mmhg, p.bp_count) == (147, 92, 2)  # 146.5, 91.5
        seen = load_prefill(
            s,
            rid,
            "hypertension",
            now=NOW,
            rules=RULES,
            received_until=late_at - timedelta(seconds=1),
        )
        assert (seen.systolic_mmhg, seen.bp_count) == (144, 1)
        # the diabetes form has no record yet: its own period (the last 90 days)
        d = load_prefill(s, rid, "diabetes", now=NOW, rules=RULES)
        assert d.since is None and d.fasting_glucose_mmol_per_l == 7.7
