"""What the store keeps about devices: events that are not readings, and how
far each meter's memory has been downloaded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from healthkiosk.idnumber import mask_in_text
from sync.store.db import write_session
from sync.store.models import DeviceCursor, DeviceEvent


def record_device_event(
    factory: sessionmaker[Session],
    *,
    device: str,
    kind: str,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> int:
    """Keep something a device reported that is not a valid reading
    (implausible values, error codes, status bits); returns the event's id."""
    if detail is not None:
        # A card reader's error may carry what it read: never keep an ID number.
        detail = json.loads(mask_in_text(json.dumps(detail, ensure_ascii=False)))
    with write_session(factory) as session:
        event = DeviceEvent(at=at or datetime.now(UTC), device=device, kind=kind, detail=detail)
        session.add(event)
        session.flush()
        return event.id


def recent_device_events(factory: sessionmaker[Session], *, limit: int = 50) -> list[DeviceEvent]:
    with factory() as session:
        rows = session.scalars(
            select(DeviceEvent).order_by(DeviceEvent.at.desc(), DeviceEvent.id.desc()).limit(limit)
        )
        return list(rows)


def get_cursor(factory: sessionmaker[Session], device_key: str) -> int | None:
    """The last record sequence number downloaded from a meter, if any."""
    with factory() as session:
        cursor = session.get(DeviceCursor, device_key)
        return None if cursor is None else cursor.last_sequence


def set_cursor(
    factory: sessionmaker[Session],
    device_key: str,
    last_sequence: int,
    *,
    now: datetime | None = None,
) -> None:
    """Remember how far a meter's memory has been read (set it lower after the
    meter's memory was cleared)."""
    with write_session(factory) as session:
        cursor = session.get(DeviceCursor, device_key)
        at = now or datetime.now(UTC)
        if cursor is None:
            session.add(
                DeviceCursor(device_key=device_key, last_sequence=last_sequence, updated_at=at)
            )
        else:
            cursor.last_sequence = last_sequence
            cursor.updated_at = at
