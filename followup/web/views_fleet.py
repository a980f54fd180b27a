"""The fleet page (administrators): stations, groups, versions, alerts, rollouts, commands."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from followup.db.audit_log import audit
from followup.db.fleet import StationCommand
from followup.db.models import Station
from followup.fleet.commands import COMMANDS, DEVICE_ROLES, LOG_LINES, Publish, command_from_form
from followup.fleet.view import (
    ALERT_TITLES,
    ALERTS_ANY,
    VERSION_UNKNOWN,
    FleetFilters,
    FleetPage,
    NoRollouts,
    RolloutSource,
    RolloutSummary,
    load_commands,
    load_fleet_page,
    load_station,
)
from followup.web.common import db, error, flash, lang, now, remote, render, require
from healthkiosk.errors import PublishRefusedError, SyncError
from sync.schema import encode, topic

log = logging.getLogger(__name__)
STATION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


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
    words = lang(request)
    filters, errors = FleetFilters.from_query(request.query_params, words.gettext)
    at = now(request)
    source = fleet_state(request).rollouts

    def work(session: Session) -> tuple[FleetPage, list[RolloutSummary]]:
        return load_fleet_page(session, now=at, filters=filters), source.rollouts(session)

    fleet, rollouts = await db(request, work)
    from followup.web.views_help import help_context, load_calls

    calls = await db(request, load_calls, now=at)
    return render(
        request,
        "fleet.html",
        {
            **help_context(request, calls),
            "poll_ms": int(fleet_state(request).poll_interval_s * 1000),
            "fleet": fleet,
            "rollouts": rollouts,
            "filters": filters,
            "errors": errors,
            "href": lambda **changes: fleet_href(filters, **changes),
            "pager": pager(fleet, filters),
            "alert_titles": {k: words.gettext(v) for k, v in ALERT_TITLES.items()},
            "alerts_any": ALERTS_ANY,
            "version_unknown": VERSION_UNKNOWN,
        },
    )


def fleet_href(filters: FleetFilters, **changes: object) -> str:
    """The fleet page's address with these filters (and ``changes``; any change but
    the page's own goes back to page 1)."""
    if "page" not in changes:
        changes["page"] = 1
    q = filters.query(**changes)
    return "/admin/fleet" + ("?" + urlencode(q) if q else "")


def pager(fleet: FleetPage, filters: FleetFilters, around: int = 2) -> list[tuple[str, str | None]]:
    """The pager's links as (label, address; None for the page shown or a gap): the
    first and last pages, and ``around`` pages either side of the one shown."""
    if fleet.pages <= 1:
        return []
    shown = sorted(
        {1, fleet.pages}
        | set(range(max(1, fleet.page - around), min(fleet.pages, fleet.page + around) + 1))
    )
    links: list[tuple[str, str | None]] = []
    previous = 0
    for n in shown:
        if n > previous + 1:
            links.append(("…", None))
        links.append((str(n), None if n == fleet.page else fleet_href(filters, page=n)))
        previous = n
    return links


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
            "commands": {k: lang(request).gettext(v) for k, v in COMMANDS.items()},
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
    commands = {k: lang(request).gettext(v) for k, v in COMMANDS.items()}
    return render(
        request, "_fleet_commands.html", {"cmds": cmds, "station_id": sid, "commands": commands}
    )


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
        label = lang(request).gettext(COMMANDS[cmd.command])
        if problem:
            flash(request, "Could not send “%(command)s”: %(problem)s", command=label,
                  problem=problem)  # fmt: skip
        else:
            flash(request, "“%(command)s” sent to %(station)s; the result appears below.",
                  command=label, station=sid)  # fmt: skip
    else:
        flash(request, "Not sent: this server has no MQTT connection.")
    return RedirectResponse(f"/admin/fleet/{sid}#commands", status_code=303)
