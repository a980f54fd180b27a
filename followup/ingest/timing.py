"""Which time the doctor's side gives a reading: the station's, or its own arrival time.

A station says whether its clock was synchronised when it made a reading
(``hk.reading/1`` ``clock_synced``; :mod:`healthkiosk.clocktrust` on the
station). A Raspberry Pi without a real-time clock that booted without network
keeps a wrong time, days or years off. Where the station's clock was not
synchronised, or where its time is later than the reading's arrival here
(which no right clock gives), the reading's time is its arrival
(``received_at``) and the station's own is kept beside it
(``readings.station_measured_at``). The follow-up list, the trends, review and
overdue dates and the urgent alerts all go by ``readings.measured_at``, so none
of them follows a wrong clock. A station that does not say (an older release)
keeps its own time, unless it is in the future.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

AHEAD_TOLERANCE = timedelta(minutes=5)
"""A station's time this much later than the arrival is a wrong clock, said or not."""


@dataclass(frozen=True, slots=True)
class ReadingTime:
    measured_at: datetime
    """The reading's time for the doctor's side."""
    station_measured_at: datetime | None
    """The station's own time, when ``measured_at`` is the arrival instead."""

    @property
    def from_arrival(self) -> bool:
        return self.station_measured_at is not None


def reading_time(
    measured_at: datetime,
    *,
    received_at: datetime,
    clock_synced: bool | None,
    ahead: timedelta = AHEAD_TOLERANCE,
) -> ReadingTime:
    """The station's time when its clock is trusted, else the arrival time
    (``ahead``: ``followup.max_clock_ahead_s``)."""
    if clock_synced is False or measured_at > received_at + ahead:
        return ReadingTime(received_at, measured_at)
    return ReadingTime(measured_at, None)
