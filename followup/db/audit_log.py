"""Writing the audit log (in the caller's transaction, so the action and its record agree).

The web app audits as the signed-in account; the ``healthkiosk`` admin commands audit
as ``cli:<OS user>`` (:func:`cli_actor`) from the host they ran on (``remote``).
"""

from __future__ import annotations

import getpass
import socket
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from followup.db.audit import AuditEvent

CLI_PREFIX = "cli:"


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


def cli_actor() -> str:
    """Who runs a CLI admin command: ``cli:<OS user>`` (``cli:?`` when unknown)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "?"
    return f"{CLI_PREFIX}{name}"


def cli_host() -> str:
    """The host a CLI admin command ran on (the audit log's "from")."""
    return socket.gethostname()


def audit_cli(
    session: Session,
    *,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """An audit entry for a CLI admin command, in the caller's transaction."""
    audit(
        session,
        action=action,
        now=now or datetime.now(UTC),
        user_id=None,
        username=cli_actor(),
        target=target,
        detail=detail,
        remote=cli_host(),
    )


def record_cli(
    engine: Engine,
    *,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """An audit entry for a CLI admin command that does not change the database itself
    (a publish over MQTT, files copied): its own transaction, committed on return."""
    with Session(engine) as session, session.begin():
        audit_cli(session, action=action, target=target, detail=detail, now=now)
