"""What the store keeps about devices: events that are not readings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from healthkiosk.idnumber import mask_in_text
from sync.store.db import write_session
from sync.store.models import DeviceEvent


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
