"""A small district computed by hand for the dashboard (tests/followup/web/test_dashboard.py).

"Now" is 2026-05-10 10:00 Beijing time. Doctor A (``dr.a``) looks after h1..h13 (hypertension,
area 东村) and d1..d4 (diabetes, area 西村); doctor B after o1 (hypertension, 东村). Each
resident's comment says what the dashboard must make of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from followup.db.alerts import Alert
from followup.db.models import Resident
from followup.db.reviews import Review
from followup.web.accounts import add_user
from tests.support.followup_data import add_reading, add_resident, add_station

BEIJING = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 5, 10, 2, 0, tzinfo=UTC)  # 10:00 Beijing
KNOWN_SINCE = datetime(2024, 1, 1, tzinfo=UTC)
PASSWORD = "correct horse battery"


def bj(y: int, m: int, d: int, h: int = 10, mi: int = 0) -> datetime:
    """A Beijing wall-clock time, as the UTC instant stored."""
    return datetime(y, m, d, h, mi, tzinfo=BEIJING).astimezone(UTC)


@dataclass
class District:
    doctor_a: int = 0
    doctor_b: int = 0
    ids: dict[str, int] = field(default_factory=dict)

    def of(self, *names: str) -> set[int]:
        return {self.ids[n] for n in names}


def build(session: Session) -> District:
    out = District()
    add_station(session)
    a = add_user(
        session, username="dr.a", password=PASSWORD, role="doctor", now=NOW, display_name="Dr A"
    )
    b = add_user(
        session, username="dr.b", password=PASSWORD, role="doctor", now=NOW, display_name="Dr B"
    )
    out.doctor_a, out.doctor_b = a.id, b.id

    def person(
        name: str,
        birth: date,
        *,
        ht: bool = False,
        dm: bool = False,
        area: str = "东村",
        doctor: int = a.id,
        since: datetime = KNOWN_SINCE,
    ) -> Resident:
        r = add_resident(
            session, name=name, birth=birth, hypertension=ht, diabetes=dm, area=area, now=since
        )
        r.responsible_doctor_id = doctor
        out.ids[name] = r.id
        return r

    def bp(r: Resident, at: datetime, s: int, d: int) -> str:
        return add_reading(session, r, measured_at=at, systolic=s, diastolic=d).uuid

    def fasting(r: Resident, at: datetime, g: float, meal: str = "fasting") -> None:
        add_reading(session, r, measured_at=at, glucose=g, meal=meal)

    def review(r: Resident, at: datetime, outcome: str, doctor: int = a.id) -> None:
        session.add(
            Review(
                resident_id=r.id,
                doctor_id=doctor,
                created_at=at,
                method="phone",
                outcome=outcome,
                note="",
                readings=[],
            )
        )

    def alert(
        r: Resident, uuid: str, measured: datetime, ack_after: timedelta | None, by: int | None
    ) -> None:
        session.add(
            Alert(
                reading_uuid=uuid,
                resident_id=r.id,
                measured_at=measured,
                raised_at=measured,
                acknowledged_at=measured + ack_after if ack_after else None,
                acknowledged_by=by,
            )
        )

    under65, over65 = date(1970, 1, 1), date(1950, 6, 1)
    h1 = person("h1", under65, ht=True)
    bp(h1, bj(2026, 4, 2), 139, 89)  # < 140/90 at 56: controlled
    review(h1, bj(2026, 2, 3), "agreed_to_visit")
    review(h1, bj(2026, 4, 2), "home_visit_done")  # 2 done: next due 30 Jun... on track (Sep 30)
    h2 = person("h2", under65, ht=True)
    bp(h2, bj(2026, 4, 2), 140, 89)  # systolic 140: not controlled
    review(h2, bj(2026, 1, 20), "referred")  # 1 done: next due 30 Jun, this period: due
    u = bp(h2, bj(2026, 5, 9, 8), 190, 100)  # urgent, never acknowledged
    alert(h2, u, bj(2026, 5, 9, 8), None, None)
    h3 = person("h3", under65, ht=True)
    u = bp(h3, bj(2026, 3, 5), 182, 112)  # urgent in March, acknowledged by B after 90 min
    alert(h3, u, bj(2026, 3, 5), timedelta(minutes=90), b.id)
    bp(h3, bj(2026, 4, 2), 139, 90)  # diastolic 90: not controlled
    review(h3, bj(2026, 3, 6), "remind_later")  # not a follow-up
    review(h3, bj(2026, 4, 3), "no_answer")  # not a follow-up: 0 done, overdue
    h4 = person("h4", over65, ht=True)
    bp(h4, bj(2026, 4, 2), 149, 89)  # < 150/90 at 75: controlled
    for m in (1, 2, 3, 4):
        review(h4, bj(2026, m, 15), "agreed_to_visit")  # 4 done: the year's done
    h5 = person("h5", over65, ht=True)
    bp(h5, bj(2026, 4, 2), 150, 89)  # systolic 150 at 75: not controlled
    review(h5, bj(2025, 12, 20), "agreed_to_visit")  # last year: not this year's
    h6 = person("h6", over65, ht=True)
    u = bp(h6, bj(2026, 2, 3), 185, 100)  # urgent in February, acknowledged by A after 30 min
    alert(h6, u, bj(2026, 2, 3), timedelta(minutes=30), a.id)
    bp(h6, bj(2026, 4, 2), 149, 90)  # diastolic 90 at 75: not controlled
    # Born 15 March 1961: 65 on 15 March 2026 (Beijing), though at 01:00 Beijing it is
    # still the 14th in UTC: the birthday is counted in the district's day.
    h7 = person("h7", date(1961, 3, 15), ht=True)
    bp(h7, bj(2026, 3, 15, 1), 145, 80)  # 65 that day: < 150/90, controlled
    h8 = person("h8", date(1961, 3, 16), ht=True)
    bp(h8, bj(2026, 3, 15, 23), 145, 80)  # 64 until tomorrow: >= 140, not controlled
    h9 = person("h9", under65, ht=True)
    bp(h9, bj(2026, 2, 10), 170, 95)  # February: not controlled
    bp(h9, bj(2026, 4, 20), 130, 80)  # April, the last: controlled
    h10 = person("h10", under65, ht=True)
    bp(h10, bj(2025, 12, 31, 23, 50), 120, 80)  # 31 Dec in Beijing: last year, no reading
    h11 = person("h11", under65, ht=True)
    bp(h11, bj(2026, 1, 1, 0, 10), 120, 80)  # 1 Jan in Beijing (31 Dec UTC): controlled
    h12 = person("h12", under65, ht=True)
    bp(h12, bj(2025, 4, 1), 120, 80)  # over a year ago
    review(h12, bj(2025, 5, 9), "agreed_to_visit")  # a year and a day ago: lost
    person("h13", under65, ht=True, since=bj(2026, 1, 2))  # new this year: not lost
    d1 = person("d1", under65, dm=True, area="西村")
    fasting(d1, bj(2026, 4, 2), 6.9)  # controlled
    d2 = person("d2", under65, dm=True, area="西村")
    fasting(d2, bj(2026, 4, 2), 7.0)  # 7.0: not controlled
    d3 = person("d3", under65, dm=True, area="西村")
    fasting(d3, bj(2026, 1, 5), 8.0)  # the last fasting: not controlled
    fasting(d3, bj(2026, 4, 2), 5.0, meal="random")  # random: does not count
    person("d4", under65, dm=True, area="西村")  # no reading at all since 2024: lost
    person("o1", under65, ht=True, doctor=b.id)  # doctor B's, 东村: lost, no reading
    person("n1", under65)  # not enrolled: in no figure
    session.flush()
    return out
