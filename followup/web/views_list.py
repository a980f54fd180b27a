"""The follow-up list: the page, its live rows, the printable page and the CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from followup.db.audit_log import audit
from followup.db.auth import User
from followup.db.models import Resident, Station
from followup.web.common import db, lang, now, remote, render, require, state
from followup.web.listing import (
    KINDS,
    SECTION_TITLES,
    STATUSES,
    ListFilters,
    ListResult,
    fetch_list,
    human_ago,
)


def _lookups(session: Session) -> dict[str, Any]:
    stations = list(session.scalars(select(Station).order_by(Station.id)))
    doctors = list(
        session.scalars(select(User).where(User.role == "doctor").order_by(User.username))
    )
    return {
        "stations": [(s.id, s.name or s.id) for s in stations],
        "doctors": [(d.id, d.display_name or d.username) for d in doctors],
    }


async def _list(
    request: Request, limit: int | None
) -> tuple[ListFilters, list[str], ListResult, dict[str, Any]]:
    f, errors = ListFilters.from_query(request.query_params)
    st = state(request)
    at = now(request)
    user = request.state.user

    def work(session: Session) -> tuple[ListFilters, ListResult, dict[str, Any]]:
        chosen = f
        if "doctor" not in request.query_params:
            chosen = replace(f, doctor=_default_doctor(session, user.id))
        result = fetch_list(session, chosen, now=at, rules=st.rules, limit=limit)
        return chosen, result, _lookups(session)

    chosen, result, lookups = await db(request, work)
    return chosen, errors, result, lookups


def _default_doctor(session: Session, user_id: int) -> str:
    """The signed-in doctor's own residents, when they are responsible for any;
    else everyone's (a doctor without a roster yet)."""
    mine = session.scalar(
        select(Resident.id).where(Resident.responsible_doctor_id == user_id).limit(1)
    )
    return str(user_id) if mine is not None else "all"


def _context(
    f: ListFilters,
    errors: list[str],
    result: ListResult,
    lookups: dict[str, Any],
    request: Request,
    *,
    printing: bool = False,
) -> dict[str, Any]:
    doctor_names = dict(lookups["doctors"])
    return {
        "filters": f,
        "query": f.query_string(),
        "errors": errors,
        "result": result,
        "titles": SECTION_TITLES,
        "kinds": KINDS,
        "statuses": STATUSES,
        "doctor_names": doctor_names,
        "poll_ms": int(state(request).settings.poll_interval_s * 1000),
        "limit": state(request).settings.list_limit,
        "today": lang(request).today(now(request)),
        "tz": state(request).tz,
        "printing": printing,
        "mine": f.doctor == str(request.state.user.id),
        **lookups,
    }


@require("doctor")
async def list_page(request: Request) -> Response:
    f, errors, result, lookups = await _list(request, state(request).settings.list_limit)
    return render(request, "list.html", _context(f, errors, result, lookups, request))


@require("doctor")
async def list_rows(request: Request) -> Response:
    """The sections alone: the open list page swaps them in (live updates)."""
    f, errors, result, lookups = await _list(request, state(request).settings.list_limit)
    return render(request, "_sections.html", _context(f, errors, result, lookups, request))


@require("doctor")
async def list_print(request: Request) -> Response:
    f, errors, result, lookups = await _list(request, 2000)
    user = request.state.user
    at = now(request)

    def log(session: Session) -> None:
        audit(
            session,
            action="print_list",
            now=at,
            user_id=user.id,
            username=user.username,
            detail=f.query_string(),
            remote=remote(request),
        )

    await db(request, log)
    return render(
        request, "print.html", _context(f, errors, result, lookups, request, printing=True)
    )


def _cell(value: object) -> str:
    """CSV cells that a spreadsheet would run as a formula are made inert."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


@require("doctor")
async def list_csv(request: Request) -> Response:
    f, _errors, result, lookups = await _list(request, None)
    at = now(request)
    doctors = dict(lookups["doctors"])
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(
        [
            "section",
            "resident_id",
            "name",
            "sex",
            "age",
            "area",
            "phone",
            "station",
            "reading",
            "measured_at",
            "how_long_ago",
            "reason",
            "review_due",
            "days_overdue",
            "responsible_doctor",
            "call_attempts",
        ]
    )
    n = 0
    for section, rows in result.sections.items():
        for r in rows:
            n += 1
            w.writerow(
                [
                    _cell(v)
                    for v in (
                        section,
                        r.resident_id,
                        r.name,
                        r.sex,
                        r.age,
                        r.area,
                        r.phone,
                        r.station_id,
                        r.trigger_summary,
                        r.trigger_at.isoformat() if r.trigger_at else "",
                        human_ago(r.trigger_at, at),
                        r.reason,
                        r.review_due_on.isoformat() if r.review_due_on else "",
                        r.days_overdue,
                        doctors.get(r.doctor_id or -1, ""),
                        r.attempts,
                    )
                ]
            )
    user = request.state.user

    def log(session: Session) -> None:
        audit(
            session,
            action="export_csv",
            now=at,
            user_id=user.id,
            username=user.username,
            detail={**f.query_string(), "rows": n},
            remote=remote(request),
        )

    await db(request, log)
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="followup-{at:%Y%m%d}.csv"'},
    )
