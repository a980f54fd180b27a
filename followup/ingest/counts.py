"""Loss you can see (issue 19): a station's daily ``hk.counts/1`` against what the
doctor's side stored.

Once a day each station says, per complete day it still holds in full (UTC, by
the station's own time of each reading), how many readings it holds and how
many the doctor's side acknowledged. The ingest counts the readings it stored
from that station for each of those days (every kind, device events too, as
the station's store keeps them since issue 14; by the station's own time:
``station_measured_at`` where the arrival time was used, else ``measured_at``)
and keeps the three numbers in ``station_day_counts``; where they are not all
equal the fleet page raises an alert naming the station and the day
(:mod:`followup.fleet.alerts`): a reading acknowledged but not stored here,
one the station holds that never arrived, or one refused.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from followup.db.fleet import StationDayCount
from followup.db.models import Reading
from healthkiosk.errors import SchemaError
from sync.schema import CountsMessage, from_dict

TOPIC_FILTER = "hk/v1/st/+/counts"
MAX_BYTES = 64 * 1024
_TOPIC = re.compile(r"^hk/v1/st/(?P<station>[a-z0-9][a-z0-9-]{0,62})/counts$")


def is_counts_topic(topic: str) -> bool:
    return _TOPIC.match(topic) is not None


def check_counts(topic: str, payload: bytes) -> CountsMessage | str | None:
    """The message, the reason it is refused, or None for an empty retained one."""
    m = _TOPIC.match(topic)
    if m is None:
        return f"bad_topic: {topic[:100]!r}"
    if not payload:
        return None
    if len(payload) > MAX_BYTES:
        return f"too_large: {len(payload)} bytes"
    try:
        data = json.loads(payload)
        if not isinstance(data, dict):
            return "not_object: a message is a JSON object"
        msg = from_dict(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        return f"not_json: {err}"
    except SchemaError as err:
        return f"{err.reason}: {err}"
    if not isinstance(msg, CountsMessage):
        return f"wrong_type: expected hk.counts/1, got {msg.schema_}"
    if msg.station_id != m["station"]:
        return f"wrong_station: payload says {msg.station_id!r}, topic {m['station']!r}"
    return msg


def stored_per_day(session: Session, station_id: str, days: list[date]) -> dict[date, int]:
    """Readings stored from ``station_id`` per day of ``days`` (by the station's time)."""
    if not days:
        return {}
    start = datetime.combine(min(days), time.min, tzinfo=UTC)
    end = datetime.combine(max(days) + timedelta(days=1), time.min, tzinfo=UTC)
    own = func.coalesce(Reading.station_measured_at, Reading.measured_at)
    out: dict[date, int] = {}
    wanted = set(days)
    for (at,) in session.execute(
        select(own).where(
            Reading.station_id == station_id,
            own >= start,
            own < end,
        )
    ):
        value = datetime.fromisoformat(at) if isinstance(at, str) else at
        day = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).date()
        if day in wanted:
            out[day] = out.get(day, 0) + 1
    return out


def compare(engine: Engine, msg: CountsMessage, *, received_at: datetime) -> list[StationDayCount]:
    """Store the station's counts beside ours; returns the days that differ."""
    insert: Any = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    with Session(engine) as s, s.begin():
        ours = stored_per_day(s, msg.station_id, [d.day for d in msg.days])
        rows = [
            {
                "station_id": msg.station_id,
                "day": d.day,
                "held": d.held,
                "acknowledged": d.acknowledged,
                "stored": ours.get(d.day, 0),
                "reported_at": msg.at,
                "compared_at": received_at,
                "differs": not d.held == d.acknowledged == ours.get(d.day, 0),
            }
            for d in msg.days
        ]
        if rows:
            stmt = insert(StationDayCount.__table__)
            s.execute(
                stmt.on_conflict_do_update(
                    index_elements=["station_id", "day"],
                    set_={
                        k: stmt.excluded[k]
                        for k in ("held", "acknowledged", "stored", "reported_at", "compared_at",
                                  "differs")
                    },
                ),
                rows,
            )  # fmt: skip
        return [StationDayCount(**r) for r in rows if r["differs"]]
