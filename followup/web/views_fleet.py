"""The fleet page (administrators): stations, groups, versions, alerts, rollouts, commands."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from followup.audit_log import audit
from followup.db.fleet import StationCommand
from followup.db.models import Station
from followup.fleet_commands import COMMANDS, DEVICE_ROLES, LOG_LINES, Publish, command_from_form
from followup.fleet_view import (
    NoRollouts,
    RolloutSource,
    load_commands,
    load_fleet,
    load_station,
)
from followup.web.common import db, error, now, remote, render, require
from healthkiosk.errors import PublishRefusedError, SyncError
from sync.schema import encode, topic

log = logging.getLogger(__name__)
STATION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
GROUP_MAX = 63


@dataclass
class FleetState:
    """What the fleet views need besides the database (set by :func:`create_app`)."""

    commands: Publish | None = None
    """Publishes ``hk.command/1``; None when the app has no MQTT (commands are refused)."""
    rollouts: RolloutSource = field(default_factory=NoRollouts)
    poll_interval_s: float = 2.0


def fleet_state(request: Request) -> FleetState:
    st = getattr(request.app.state, "fleet", None)
    return st if isinstance(st, FleetState) else FleetState()


@require("admin")
async def fleet_page(request: Request) -> Response:
    group = (request.query_params.get("group") or "").strip()[:GROUP_MAX] or None
    at = now(request)
    source = fleet_state(request).rollouts

    def work(session: Session) -> dict[str, object]:
        return {
            "fleet": load_fleet(session, now=at, group=group),
            "rollouts": source.rollouts(session),
        }

    ctx = await db(request, work)
    return render(request, "fleet.html", {**ctx, "group": group or ""})


def _station_id(request: Request) -> str | None:
    sid = str(request.path_params["station"])
    return sid if STATION_RE.match(sid) else None


@require("admin")
async def station_page(request: Request) -> Response:
    sid = _station_id(request)
    at = now(request)
    detail = await db(request, load_station, sid, now=at) if sid else None
    if detail is None:
        return error(request, 404, "No such station.")
    return render(
        request,
        "fleet_station.html",
        {
            "d": detail,
            "s": detail.row,
            "commands": COMMANDS,
            "roles": DEVICE_ROLES,
            "log_lines": LOG_LINES,
            "mqtt": fleet_state(request).commands is not None,
            "poll_ms": int(fleet_state(request).poll_interval_s * 1000),
            "errors": [],
        },
    )


@require("admin")
async def station_commands(request: Request) -> Response:
    """The commands table alone (the station page polls it while one is waiting)."""
    sid = _station_id(request)
    if sid is None:
        return error(request, 404, "No such station.")
    cmds = await db(request, load_commands, sid)
    return render(request, "_fleet_commands.html", {"cmds": cmds, "station_id": sid})


@require("admin")
async def send_command(request: Request) -> Response:
    sid = _station_id(request)
    if sid is None:
        return error(request, 404, "No such station.")
    form = await request.form()
    admin = request.state.user
    at = now(request)
    cmd = command_from_form(form, issued_by=admin.username, now=at)
    if isinstance(cmd, str):
        return error(request, 400, cmd)
    publish = fleet_state(request).commands

    def record(session: Session) -> bool:
        if session.get(Station, sid) is None:
            return False
        session.add(
            StationCommand(
                id=str(cmd.id),
                station_id=sid,
                command=cmd.command,
                args=dict(cmd.args),
                issued_at=cmd.issued_at,
                expires_at=cmd.expires_at,
                issued_by=admin.username,
                publish_error=None if publish else "this server has no MQTT connection",
            )
        )
        audit(
            session,
            action="fleet_command",
            now=at,
            user_id=admin.id,
            username=admin.username,
            target=f"station:{sid}",
            detail={"command": cmd.command, "args": dict(cmd.args), "id": str(cmd.id)},
            remote=remote(request),
        )
        return True

    if not await db(request, record):
        return error(request, 404, "No such station.")
    if publish is not None:
        problem: str | None = None
        try:
            await publish(topic(sid, "cmd"), encode(cmd))
        except PublishRefusedError as err:
            problem = f"the broker refused it: {err}"
        except (SyncError, OSError) as err:
            problem = f"not sent: {err}"
        if problem:
            log.warning("command %s to %s: %s", cmd.command, sid, problem)

        sent_at = now(request)

        def mark(session: Session) -> None:
            row = session.get(StationCommand, str(cmd.id))
            if row is not None:
                row.published_at = None if problem else sent_at
                row.publish_error = problem

        await db(request, mark)
        request.session["flash"] = (
            f"Could not send “{COMMANDS[cmd.command]}”: {problem}"
            if problem
            else f"“{COMMANDS[cmd.command]}” sent to {sid}; the result appears below."
        )
    else:
        request.session["flash"] = "Not sent: this server has no MQTT connection."
    return RedirectResponse(f"/admin/fleet/{sid}#commands", status_code=303)
