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
from followup.messages import N_
from followup.web.common import db, lang, now, remote, render, require, state
from followup.web.listing import (
    FIELD_NAMES,
    KINDS,
    SECTION_TITLES,
    STATUSES,
    ListFilters,
    ListResult,
    fetch_list,
)
from followup.web.views_help import ShownCall, help_context, load_calls
from followup.web.words import reason_text, sex_name, summary_text

CSV_COLUMNS = (
    N_("section"),
    N_("resident_id"),
    N_("name"),
    N_("sex"),
    N_("age"),
    N_("area"),
    N_("phone"),
    N_("station"),
    N_("reading"),
    N_("measured_at"),
    N_("how_long_ago"),
    N_("reason"),
    N_("review_due"),
    N_("days_overdue"),
    N_("responsible_doctor"),
    N_("call_attempts"),
)
"""The CSV's header in the page's language: Chinese words, or the English column ids
(an English CSV keeps its section keys too; times are the district's, labelled)."""


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
    f, errors = ListFilters.from_query(request.query_params, lang(request).gettext)
    st = state(request)
    at = now(request)
    user = request.state.user

    def work(session: Session) -> tuple[ListFilters, ListResult, dict[str, Any]]:
        chosen = f
        if "doctor" not in request.query_params:
            chosen = replace(f, doctor=_default_doctor(session, user.id))
        result = fetch_list(session, chosen, now=at, tz=st.tz, rules=st.rules, limit=limit)
        lookups: dict[str, Any] = {**_lookups(session), "calls": load_calls(session, now=at)}
        return chosen, result, lookups

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
    calls: list[ShownCall] = lookups["calls"]
    words = lang(request)
    return {
        **help_context(request, calls),
        "filter_names": {k: words.gettext(v) for k, v in FIELD_NAMES.items()},
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
    words = lang(request)
    w.writerow([words.gettext(c) for c in CSV_COLUMNS])
    n = 0
    for section, rows in result.sections.items():
        for r in rows:
            n += 1
            w.writerow(
                [
                    _cell(v)
                    for v in (
                        words.gettext(SECTION_TITLES[section]) if words.zh else section,
                        r.resident_id,
                        r.name,
                        sex_name(words, r.sex),
                        r.age,
                        r.area,
                        r.phone,
                        r.station_id,
                        summary_text(words, r.trigger_summary),
                        words.format_datetime(r.trigger_at),
                        words.ago(r.trigger_at, at),
                        reason_text(words, r.reason),
                        words.format_date(r.review_due_on),
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
