"""Calls for staff from the stations (issue 16): shown live on the doctor's list
and the fleet page until someone acknowledges them, at the station or here.

Acknowledging here (a button, doctors and administrators) records who and
when, audits it (``help_ack``), and sends the command ``help_ack`` to the
station on ``hk/v1/st/<id>/cmd`` (the fleet page's publisher); the station
puts its staff lamp out, tells the elder, and sends the call back
acknowledged (the ingest then marks that the station has it). The calls are
stored by the ingest (:mod:`followup.fleet.reports`, table ``help_calls``).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from followup.db.audit_log import audit
from followup.db.fleet import HelpCallRow, StationCommand
from followup.db.models import Station
from followup.fleet.commands import TTL
from followup.messages import N_
from followup.web.common import db, error, lang, now, remote, render, require
from followup.web.views_fleet import fleet_state
from healthkiosk.errors import PublishRefusedError, SyncError
from sync.schema import Command, encode, topic

log = logging.getLogger(__name__)

SHOWN_AFTER_ACK = timedelta(minutes=30)
"""An acknowledged call stays on the pages this long (who came, and when)."""
LIMIT = 50
CALL_RE = re.compile(r"^[0-9a-f-]{36}$")

REASONS = {"urgent_result": N_("Urgent result"), "staff_call": N_("Pressed “call staff”")}
SCREENS = {
    "attract": N_("start screen"),
    "checkin": N_("check-in"),
    "confirm": N_("is this you?"),
    "choose": N_("choosing a measurement"),
    "prep_bp": N_("before blood pressure"),
    "measure_bp": N_("measuring blood pressure"),
    "bp_pause": N_("pause between readings"),
    "glucose_meal": N_("the meal question"),
    "prep_glucose": N_("before blood sugar"),
    "measure_glucose": N_("measuring blood sugar"),
    "result": N_("a result"),
    "summary": N_("the summary"),
    "done": N_("thank-you screen"),
    "error": N_("an error"),
}

DETAILS = {
    "device_not_found": N_("device not found"),
    "not_paired": N_("device not paired"),
    "bluetooth_off": N_("Bluetooth is off"),
    "link_lost": N_("connection to the device lost"),
    "device_timeout": N_("the device did not answer in time"),
    "body_movement": N_("moved during the measurement"),
    "cuff_fit": N_("cuff not fitted right"),
    "improper_position": N_("not sitting right for the measurement"),
    "strip_error": N_("test strip error"),
    "out_of_range": N_("beyond the meter's range"),
    "implausible": N_("a value that cannot be right"),
    "device_error": N_("device error"),
    "store_full": N_("the station's storage is full"),
    "store_error": N_("the station's storage failed"),
    "updating": N_("the station is updating"),
}
"""The error a station's screen showed (a call's ``detail``: the kiosk's error keys)."""
NOT_TOLD = {
    "no_mqtt": N_("this server has no MQTT connection"),
    "refused": N_("the broker refused it"),
    "not_sent": N_("it could not be sent"),
}
"""Why a station was not told of an acknowledgement, in the page's words (the
command's row and the log keep the error itself)."""


@dataclass(frozen=True, slots=True)
class ShownCall:
    row: HelpCallRow
    station_name: str


def load_calls(session: Session, *, now: datetime) -> list[ShownCall]:
    """Open calls (oldest first), then those acknowledged in the last half hour."""
    rows = session.scalars(
        select(HelpCallRow)
        .where(
            or_(
                HelpCallRow.acknowledged_at.is_(None),
                HelpCallRow.acknowledged_at >= now - SHOWN_AFTER_ACK,
            )
        )
        .order_by(HelpCallRow.acknowledged_at.is_not(None), HelpCallRow.called_at)
        .limit(LIMIT)
    ).all()
    names = {s.id: s.name or s.id for s in session.scalars(select(Station))}
    return [ShownCall(r, names.get(r.station_id, r.station_id)) for r in rows]


def help_context(request: Request, calls: list[ShownCall]) -> dict[str, object]:
    words = lang(request)
    return {
        "help_calls": calls,
        "help_open": sum(1 for c in calls if c.row.acknowledged_at is None),
        "help_reasons": {k: words.gettext(v) for k, v in REASONS.items()},
        "help_screens": {k: words.gettext(v) for k, v in SCREENS.items()},
        "help_details": {k: words.gettext(v) for k, v in DETAILS.items()},
    }


@require("doctor", "admin")
async def help_calls(request: Request) -> Response:
    """The calls alone (the fleet page polls it)."""
    at = now(request)
    calls = await db(request, load_calls, now=at)
    return render(request, "_help_calls.html", help_context(request, calls))


@require("doctor", "admin")
async def acknowledge(request: Request) -> Response:
    """Someone here has seen the call and sees to it: recorded, audited, and
    sent to the station."""
    call_id = str(request.path_params["call"])
    if not CALL_RE.match(call_id):
        return error(request, 404, "No such call for staff.")
    user = request.state.user
    at = now(request)
    form = await request.form()
    back = "/admin/fleet" if form.get("from") == "fleet" else "/list"
    cmd = Command.model_validate(
        {
            "schema": "hk.command/1",
            "id": uuid.uuid4(),
            "command": "help_ack",
            "args": {"call": call_id, "by": user.display_name or user.username},
            "issued_at": at,
            "expires_at": at + TTL,
            "issued_by": user.username,
        }
    )
    publish = fleet_state(request).commands

    def record(session: Session) -> tuple[str, str] | None:
        row = session.scalars(
            select(HelpCallRow).where(HelpCallRow.id == call_id).with_for_update()
        ).first()
        if row is None:
            return None
        if row.acknowledged_at is not None:
            return "", ""
        row.acknowledged_at = at
        row.acknowledged_by = user.display_name or user.username
        row.acknowledged_where = "web"
        row.ack_command_id = str(cmd.id)
        session.add(
            StationCommand(
                id=str(cmd.id),
                station_id=row.station_id,
                command=cmd.command,
                args=dict(cmd.args),
                issued_at=cmd.issued_at,
                expires_at=cmd.expires_at,
                issued_by=user.username,
                publish_error=None if publish else "this server has no MQTT connection",
            )
        )
        audit(
            session,
            action="help_ack",
            now=at,
            user_id=user.id,
            username=user.username,
            target=f"station:{row.station_id}",
            detail={"call": call_id, "reason": row.reason, "screen": row.screen},
            remote=remote(request),
        )
        st = session.get(Station, row.station_id)
        return row.station_id, (st.name if st is not None and st.name else row.station_id)

    found = await db(request, record)
    if found is None:
        return error(request, 404, "No such call for staff.")
    station, station_name = found
    words = lang(request)
    if station == "":
        request.session["flash"] = words.gettext("That call was already acknowledged.")
        return RedirectResponse(back, status_code=303)
    problem: str | None = None
    why = ""
    if publish is None:
        problem, why = "this server has no MQTT connection", "no_mqtt"
    else:
        try:
            await publish(topic(station, "cmd"), encode(cmd))
        except PublishRefusedError as err:
            problem, why = f"the broker refused it: {err}", "refused"
        except (SyncError, OSError) as err:
            problem, why = f"not sent: {err}", "not_sent"
    sent_at = now(request)

    def mark(session: Session) -> None:
        row = session.get(StationCommand, str(cmd.id))
        if row is not None:
            row.published_at = None if problem else sent_at
            row.publish_error = problem

    await db(request, mark)
    if problem:
        log.warning("help_ack to %s: %s", station, problem)
        request.session["flash"] = words.gettext(
            "Acknowledged here, but the station was not told: %(problem)s",
            problem=words.gettext(NOT_TOLD[why]),
        )
    else:
        request.session["flash"] = words.gettext(
            "Call acknowledged; the station %(station)s is told.", station=station_name
        )
    return RedirectResponse(back, status_code=303)
