"""What the store keeps about devices: events that are not readings, and
device-memory records (records from outside any visit's step)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from healthkiosk.idnumber import mask_in_text
from sync.store.db import write_session
from sync.store.models import DeviceEvent, DeviceMemory


def record_device_event(
    factory: sessionmaker[Session],
    *,
    device: str,
    kind: str,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Keep something a device reported that is not a valid reading
    (implausible values, error codes, status bits)."""
    if detail is not None:
        # A card reader's error may carry what it read: never keep an ID number.
        detail = json.loads(mask_in_text(json.dumps(detail, ensure_ascii=False)))
    with write_session(factory) as session:
        session.add(
            DeviceEvent(at=at or datetime.now(UTC), device=device, kind=kind, detail=detail)
        )


def record_device_memory(
    factory: sessionmaker[Session],
    *,
    role: str,
    device: str,
    kind: str,
    reason: str,
    values: dict[str, Any],
    device_time: datetime | None,
    received_at: datetime,
) -> None:
    """Keep a record a device sent outside any visit's step (no resident, no
    visit, no outbox row: it is never sent as a reading)."""
    with write_session(factory) as session:
        session.add(
            DeviceMemory(
                received_at=received_at,
                role=role[:40],
                device=device[:200],
                kind=kind,
                reason=reason,
                device_time=device_time,
                values=values,
            )
        )


def device_memory_counts(factory: sessionmaker[Session]) -> dict[str, int]:
    """How many device-memory records the store holds, per role."""
    with factory() as session:
        rows = session.execute(
            select(DeviceMemory.role, func.count()).group_by(DeviceMemory.role)
        ).all()
    return {role: int(n) for role, n in rows}
