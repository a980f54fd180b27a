"""Who the dashboard counts, and when: the district's calendar for the year, and each
resident under management today with the day of enrolment in each programme
(docs/clinical.md, "Dashboard")."""

from __future__ import annotations

import calendar
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

from followup.web.dashboard_facts import Person
from healthkiosk.rules.config import FollowupRules
from healthkiosk.rules.control import first_period, managed_on


@dataclass(frozen=True, slots=True)
class Year:
    """The district's calendar for the dashboard: today, this year's month starts (the
    instants) and month ends (the days), and a moment's day."""

    now: datetime
    tz: tzinfo
    today: date
    starts: tuple[datetime, ...]
    ends: tuple[date, ...]

    @classmethod
    def of(cls, now: datetime, tz: tzinfo) -> Year:
        today = now.astimezone(tz).date()
        y = today.year
        # In UTC: comparing with the readings' UTC times needs no time zone lookup.
        starts = tuple(datetime(y, m, 1, tzinfo=tz).astimezone(UTC) for m in range(1, 13))
        ends = tuple(date(y, m, calendar.monthrange(y, m)[1]) for m in range(1, 13))
        return cls(now, tz, today, starts, ends)

    def day(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()

    def start_of(self, day: date) -> datetime:
        """The instant the district's ``day`` begins: ``at >= start_of(d)`` is
        ``day(at) >= d`` (one comparison instead of a time zone conversion)."""
        return datetime(day.year, day.month, day.day, tzinfo=self.tz).astimezone(UTC)

    def month(self, at: datetime) -> int:
        return bisect_right(self.starts, at)

    def month_of(self, day: date) -> int:
        """The month of this year a day falls in (1 for a day before the year)."""
        return 1 if day.year < self.today.year else day.month


@dataclass(frozen=True, slots=True)
class Managed:
    """A resident under management today: since when, in each programme."""

    person: Person
    hypertension_since: date | None
    """None: not in hypertension management; ``date.min``: since a day not known."""
    diabetes_since: date | None
    since: date
    """Under management (either programme) since."""
    first: int
    """The first of the year's periods a follow-up is owed for."""

    def since_in(self, kind: str) -> date | None:
        """In the programme whose control ``kind`` of reading measures, since."""
        return self.hypertension_since if kind == "blood_pressure" else self.diabetes_since


def under_management(
    people: dict[int, Person], year: Year, fu: FollowupRules
) -> dict[int, Managed]:
    """The residents under management today (enrolled by today in either programme)."""
    out: dict[int, Managed] = {}
    for rid, p in people.items():
        ht = managed_on(p.hypertension, p.hypertension_enrolled_on, year.today)
        dm = managed_on(p.diabetes, p.diabetes_enrolled_on, year.today)
        if not (ht or dm):
            continue
        ht_since = (p.hypertension_enrolled_on or date.min) if ht else None
        dm_since = (p.diabetes_enrolled_on or date.min) if dm else None
        since = min(d for d in (ht_since, dm_since) if d is not None)
        first = first_period(since, year.today.year, fu)
        out[rid] = Managed(p, ht_since, dm_since, since, first)
    return out
