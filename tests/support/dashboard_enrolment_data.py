"""Residents enrolled on known days, counted by hand for the dashboard
(tests/followup/web/test_dashboard_enrolment.py).

"Now" is 2026-05-10 10:00 Beijing time, as in tests/support/dashboard_data.py. Doctor C
(``dr.c``) looks after e1..e8, all known since 2024 (``KNOWN_SINCE``); the roster's
enrolment dates (``*_enrolled_on``) are the district's days. Four follow-ups a year,
due by 31 Mar / 30 Jun / 30 Sep / 31 Dec, owed from the quarter of enrolment; a
follow-up or a reading counts from the day of enrolment. Each resident's comment says
what the dashboard must make of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from followup.db.models import Resident
from followup.db.reviews import Review
from followup.web.accounts import add_user
from tests.support.dashboard_data import KNOWN_SINCE, NOW, PASSWORD, bj
from tests.support.followup_data import add_reading, add_resident, add_station


@dataclass
class Enrolled:
    doctor: int = 0
    ids: dict[str, int] = field(default_factory=dict)

    def of(self, *names: str) -> set[int]:
        return {self.ids[n] for n in names}


def build(session: Session) -> Enrolled:
    out = Enrolled()
    add_station(session)
    c = add_user(
        session, username="dr.c", password=PASSWORD, role="doctor", now=NOW, display_name="Dr C"
    )
    out.doctor = c.id

    def person(
        name: str, *, ht_on: date | None = None, dm_on: date | None = None, dm: bool = False
    ) -> Resident:
        r = add_resident(
            session,
            name=name,
            birth=date(1970, 1, 1),
            hypertension=ht_on is not None,
            diabetes=dm or dm_on is not None,
            area="南村",
            now=KNOWN_SINCE,
        )
        r.hypertension_enrolled_on = ht_on
        r.diabetes_enrolled_on = dm_on
        r.responsible_doctor_id = c.id
        out.ids[name] = r.id
        return r

    def review(r: Resident, at: object) -> None:
        session.add(
            Review(
                resident_id=r.id,
                doctor_id=c.id,
                created_at=at,
                method="phone",
                outcome="agreed_to_visit",
                note="",
                readings=[],
            )
        )

    # Enrolled 15 April (Q2): owes Q2..Q4. The March call is before enrolment: not a
    # follow-up; 20 April's is: 1 done, the next due 30 Sep, on track. The reading at
    # 00:10 Beijing on 15 April (still the 14th in UTC) is on the enrolment day: counts.
    e1 = person("e1", ht_on=date(2026, 4, 15))
    review(e1, bj(2026, 3, 10))
    review(e1, bj(2026, 4, 20))
    add_reading(session, e1, measured_at=bj(2026, 4, 15, 0, 10), systolic=120, diastolic=80)
    # Enrolled tomorrow: not under management yet, in no figure at all.
    e2 = person("e2", ht_on=date(2026, 5, 11))
    add_reading(session, e2, measured_at=bj(2026, 5, 1), systolic=120, diastolic=80)
    review(e2, bj(2026, 5, 2))
    # Diabetes since 1 January: owes Q1 (overdue since 31 Mar); fasting 6.5 in February.
    e3 = person("e3", dm_on=date(2026, 1, 1))
    add_reading(session, e3, measured_at=bj(2026, 2, 1), glucose=6.5, meal="fasting")
    # Hypertension since 2025, diabetes only from today: owes Q1 (the earlier programme);
    # 1 done in January, the next due 30 Jun. BP controlled from February; the fasting
    # glucose of yesterday came before the diabetes enrolment: no glucose reading.
    e4 = person("e4", ht_on=date(2025, 6, 1), dm_on=date(2026, 5, 10))
    review(e4, bj(2026, 1, 10))
    add_reading(session, e4, measured_at=bj(2026, 2, 2), systolic=130, diastolic=80)
    add_reading(session, e4, measured_at=bj(2026, 5, 9), glucose=6.0, meal="fasting")
    # Enrolled 1 April: the call at 23:30 on 31 March does not count, the one at 08:00
    # on 1 April does; BP 150/95 in May: not controlled.
    e5 = person("e5", ht_on=date(2026, 4, 1))
    review(e5, bj(2026, 3, 31, 23, 30))
    review(e5, bj(2026, 4, 1, 8))
    add_reading(session, e5, measured_at=bj(2026, 5, 1), systolic=150, diastolic=95)
    # No reading, no follow-up since 2024. Lost needs a year under management: the cut
    # is 10 May 2025 (Beijing). e6, enrolled the day after: not lost; e7, that day: lost.
    person("e6", ht_on=date(2025, 5, 11))
    person("e7", ht_on=date(2025, 5, 10))
    # Enrolled 15 April; its only reading at 23:50 on 14 April: no reading.
    e8 = person("e8", ht_on=date(2026, 4, 15))
    add_reading(session, e8, measured_at=bj(2026, 4, 14, 23, 50), systolic=120, diastolic=80)
    session.flush()
    return out
