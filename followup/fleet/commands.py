"""Remote commands from the fleet page: checking the form, the ``hk.command/1``, publishing.

The web view records the command (and its audit entry) first, then publishes
it on ``hk/v1/st/<station>/cmd`` at QoS 1 with the web app's publisher
(:func:`followup.alerts.publish.make_publisher`, shared with the urgent-reading
alerts: one broker account, one connection at a time), then records whether
the broker took it. The station's
``hk.command-result/1`` arrives through the ingest
(:mod:`followup.fleet.reports`) and the page shows it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from followup.messages import N_
from sync.schema import Command, CommandName

Publish = Callable[[str, bytes], Awaitable[None]]


COMMANDS: dict[CommandName, str] = {
    "logs": N_("Fetch recent logs"),
    "resync": N_("Force a re-sync"),
    "restart": N_("Restart the kiosk app"),
    "repair": N_("Re-pair a device"),
}
DEVICE_ROLES = ("blood_pressure", "glucose", "id_card")
LOG_LINES = (50, 200, 1000)
TTL = timedelta(minutes=5)
"""A command not run within this time is answered "expired" by the station."""


def command_from_form(
    form: Mapping[str, Any], *, issued_by: str, now: datetime, ttl: timedelta = TTL
) -> Command | str:
    """The command the form asks for, or what is wrong with the form."""
    name = str(form.get("command") or "")
    args: dict[str, Any] = {}
    if name == "logs":
        try:
            lines = int(str(form.get("lines") or LOG_LINES[0]))
        except ValueError:
            return N_("The number of log lines must be a number.")
        if lines not in LOG_LINES:
            return N_("Choose the number of log lines from the list.")
        args["lines"] = lines
    elif name == "repair":
        role = str(form.get("role") or "")
        if role not in DEVICE_ROLES:
            return N_("Choose which device to re-pair.")
        args["role"] = role
    elif name not in COMMANDS:
        return N_("Unknown command.")
    return Command.model_validate(
        {
            "schema": "hk.command/1",
            "id": uuid.uuid4(),
            "command": name,
            "args": args,
            "issued_at": now,
            "expires_at": now + ttl,
            "issued_by": issued_by,
        }
    )
