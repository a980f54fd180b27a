"""Small facts about the store kept in its ``meta`` table.

- ``store_id``: a UUID made when the store was created (a store moved aside
  and replaced gets a new one, so two files are never confused);
- ``station_seq``: the last station sequence number handed out. Kept here,
  not derived from ``max(readings.station_seq)``, because purging delivered
  readings must never let a number be used twice.
"""

from __future__ import annotations

from sqlalchemy import Integer, Text, cast, func, select, update
from sqlalchemy.orm import Session

from healthkiosk.errors import StoreError
from sync.store.models import Meta, Reading

STORE_ID = "store_id"
STATION_SEQ = "station_seq"


def get(session: Session, key: str) -> str | None:
    return session.scalar(select(Meta.value).where(Meta.key == key))


def store_id(session: Session) -> str:
    value = get(session, STORE_ID)
    if value is None:  # pragma: no cover - seeded by migration 0002
        raise StoreError("the store has no store_id: was it migrated?")
    return value


def last_seq(session: Session) -> int:
    value = get(session, STATION_SEQ)
    return int(value) if value is not None else 0


def next_seq(session: Session) -> int:
    """Hand out the next station sequence number: one more than both the
    counter and the highest number in ``readings``. The update comes first, so
    it takes the write lock before the value is read back: two processes never
    get the same number."""
    # Also above any number already in the readings, so a writer that did not
    # go through this counter (an older tool, a restored copy) is never collided with.
    highest = select(func.coalesce(func.max(Reading.station_seq), 0)).scalar_subquery()
    result = session.execute(
        update(Meta)
        .where(Meta.key == STATION_SEQ)
        .values(value=cast(func.max(cast(Meta.value, Integer), highest) + 1, Text))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StoreError("the store has no station_seq counter: was it migrated?")
    return last_seq(session)


def raise_seq_floor(session: Session, floor: int) -> None:
    """Make sure numbers handed out from now on are above ``floor`` (after an
    import of readings that carry their own numbers, or a store moved aside)."""
    if last_seq(session) < floor:
        session.execute(
            update(Meta)
            .where(Meta.key == STATION_SEQ)
            .values(value=str(floor))
            .execution_options(synchronize_session=False)
        )
