"""Writing the audit log (in the caller's transaction, so the action and its record agree)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from followup.db.audit import AuditEvent


def audit(
    session: Session,
    *,
    action: str,
    now: datetime,
    user_id: int | None,
    username: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    remote: str = "",
) -> None:
    session.add(
        AuditEvent(
            at=now,
            user_id=user_id,
            username=username[:64],
            action=action,
            target=target[:100],
            detail=detail or {},
            remote=remote[:64],
        )
    )
