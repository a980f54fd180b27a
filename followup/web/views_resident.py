"""A resident: identity, contacts, programmes, readings, trend, reviews; edits and exports."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from followup.alerts.urgent import acknowledge
from followup.db.alerts import Alert
from followup.db.audit_log import audit
from followup.db.auth import User
from followup.db.escalation import EscalationStep
from followup.db.models import Reading, Resident, Station
from followup.db.records import FollowUpRecord
from followup.db.reviews import (
    METHODS,
    NO_ANSWER,
    OUTCOME_NAMES,
    OUTCOMES,
    REMOVE_REASONS,
    Review,
    save_review,
)
from followup.db.status import ResidentStatusRow
from followup.db.status_store import refresh_residents
from followup.messages import N_
from followup.record.fields import CLASSIFICATIONS
from followup.record.fields import KINDS as RECORD_KINDS
from followup.web.chart import Point, blood_pressure_svg, glucose_svg
from followup.web.common import db, error, flash, lang, now, remote, render, require, state
from followup.web.fhir_export import readings_bundle
from healthkiosk.rules.status import age_on

MAX_READINGS_SHOWN = 2000
# A total order: readings of one instant (equal measured_at) must not follow the plan's
# order of ties, which on PostgreSQL changes when a row is updated (a review).
OLDEST_FIRST = (Reading.measured_at, Reading.station_id, Reading.station_seq)
NEWEST_FIRST = tuple(c.desc() for c in OLDEST_FIRST)
REMIND_DAYS = (1, 3, 7, 14, 30)
ESCALATION_ROLES = {
    "doctor": N_("Responsible doctor"),
    "station": N_("Station duty phone"),
    "centre": N_("Health centre"),
}
ESCALATION_STATUS = {"sent": N_("sent"), "failed": N_("failed"), "skipped": N_("skipped")}


class NotFound(Exception):
    pass


def _resident_id(request: Request) -> int:
    rid: int = request.path_params["rid"]
    return rid


def _page_data(session: Session, rid: int, at: datetime, rules: Any, tz: tzinfo) -> dict[str, Any]:
    today = at.astimezone(tz).date()  # the district's day
    res = session.get(Resident, rid)
    if res is None:
        raise NotFound
    readings = list(
        session.scalars(
            select(Reading)
            .where(Reading.resident_id == rid)
            .order_by(*NEWEST_FIRST)
            .limit(MAX_READINGS_SHOWN)
        )
    )
    reviews = list(
        session.scalars(
            select(Review)
            .where(Review.resident_id == rid)
            .order_by(Review.created_at.desc(), Review.id.desc())
        )
    )
    users = {u.id: u.display_name or u.username for u in session.scalars(select(User))}
    doctors = [
        (u.id, u.display_name or u.username)
        for u in session.scalars(
            select(User).where(User.role == "doctor", User.active.is_(True)).order_by(User.username)
        )
    ]
    alerts = list(
        session.scalars(
            select(Alert)
            .where(Alert.resident_id == rid)
            .order_by(Alert.raised_at, Alert.reading_uuid)
        )
    )
    steps = list(
        session.scalars(
            select(EscalationStep)
            .where(EscalationStep.resident_id == rid)
            .order_by(EscalationStep.at, EscalationStep.step)
        )
    )
    status = session.get(ResidentStatusRow, rid)
    stations = {s.id: s.name or s.id for s in session.scalars(select(Station))}
    points = [
        Point(
            r.measured_at,
            r.systolic_mmhg,
            r.diastolic_mmhg,
            r.glucose_mmol_per_l,
            r.meal_context == "fasting",
            shown=r.out_of_range if r.kind == "glucose" else None,
        )
        for r in reversed(readings)
        # a value the rules refused is not a point of the trend; weight, SpO2 and
        # temperature have no chart (yet): their table rows show them
        if r.kind in ("blood_pressure", "glucose")
    ]
    latest_received = max((r.received_at for r in readings), default=None)
    return {
        "resident": res,
        "age": age_on(res.birth_date, today),
        "readings": readings,
        "reviews": reviews,
        "users": users,
        "doctors": doctors,
        "alerts": alerts,
        "escalation_steps": steps,
        "role_words": ESCALATION_ROLES,
        "step_status": ESCALATION_STATUS,
        "status": status,
        "stations": stations,
        "points": points,
        "points_all": points,
        "seen_until": latest_received.isoformat() if latest_received else "",
        "open_count": sum(1 for r in readings if r.reviewed_at is None),
        "default_next": today + timedelta(days=rules.followup.next_follow_up_days),
        "outcomes": OUTCOMES,
        "outcome_names": OUTCOME_NAMES,
        "remove_reasons": REMOVE_REASONS,
        "methods": METHODS,
        "remind_days": REMIND_DAYS,
        "records": list(
            session.scalars(
                select(FollowUpRecord)
                .where(FollowUpRecord.resident_id == rid)
                .order_by(FollowUpRecord.created_at.desc(), FollowUpRecord.id.desc())
            )
        ),
        "record_kinds": RECORD_KINDS,
        "record_classes": CLASSIFICATIONS,
    }


async def _show(
    request: Request,
    *,
    revealed: str | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    st = state(request)
    at = now(request)
    try:
        data = await db(request, _page_data, _resident_id(request), at, st.rules, st.tz)
    except NotFound:
        return error(request, 404, "No such resident.")
    data["revealed"] = revealed
    words = lang(request)
    data["bp_svg"] = blood_pressure_svg(data.pop("points"), st.rules, words)
    data["glucose_svg"] = glucose_svg(data["points_all"], st.rules, words)
    del data["points_all"]
    today = lang(request).today(at)  # the district's date
    data["default_next"] = today + timedelta(days=st.rules.followup.next_follow_up_days)
    data["age"] = age_on(data["resident"].birth_date, today)
    data["errors"] = errors or []
    return render(request, "resident.html", data, status_code)


@require("doctor")
async def resident_page(request: Request) -> Response:
    return await _show(request)


@require("doctor")
async def reveal(request: Request) -> Response:
    rid = _resident_id(request)
    user = request.state.user
    at = now(request)

    def work(session: Session) -> str | None:
        res = session.get(Resident, rid)
        if res is None:
            return None
        audit(
            session,
            action="reveal_id",
            now=at,
            user_id=user.id,
            username=user.username,
            target=f"resident:{rid}",
            remote=remote(request),
        )
        return res.id_number

    id_number = await db(request, work)
    if id_number is None:
        return error(request, 404, "No such resident.")
    return await _show(request, revealed=id_number)


@require("doctor")
async def edit(request: Request) -> Response:
    rid = _resident_id(request)
    form = await request.form()
    user = request.state.user
    at = now(request)
    st = state(request)
    errors: list[str] = []
    words = lang(request)
    phone = str(form.get("phone") or "").strip()
    address = str(form.get("address") or "").strip()
    area = str(form.get("area") or "").strip()
    if len(phone) > 40:
        errors.append(words.gettext("phone: at most 40 characters"))
    if len(address) > 300:
        errors.append(words.gettext("address: at most 300 characters"))
    if len(area) > 200:
        errors.append(words.gettext("area: at most 200 characters"))
    doctor_raw = str(form.get("responsible_doctor") or "").strip()
    doctor_id: int | None = None
    if doctor_raw:
        if not doctor_raw.isdigit():
            errors.append(words.gettext("responsible doctor: unknown"))
        else:
            doctor_id = int(doctor_raw)
    if errors:
        return await _show(request, errors=errors, status_code=400)

    def work(session: Session) -> str | None:
        res = session.get(Resident, rid)
        if res is None:
            return "missing"
        if doctor_id is not None:
            d = session.get(User, doctor_id)
            if d is None or d.role != "doctor" or not d.active:
                return N_("responsible doctor: unknown")
        new = {
            "phone": phone or None,
            "address": address or None,
            "area": area or None,
            "hypertension_programme": form.get("hypertension") == "on",
            "diabetes_programme": form.get("diabetes") == "on",
            "responsible_doctor_id": doctor_id,
        }
        changed = [k for k, v in new.items() if getattr(res, k) != v]
        for k in changed:
            setattr(res, k, new[k])
        res.updated_at = at
        audit(
            session,
            action="resident_edit",
            now=at,
            user_id=user.id,
            username=user.username,
            target=f"resident:{rid}",
            detail={"fields": changed},
            remote=remote(request),
        )
        session.flush()
        refresh_residents(session, [rid], rules=st.rules, now=at, tz=st.tz)
        return None

    problem = await db(request, work)
    if problem == "missing":
        return error(request, 404, "No such resident.")
    if problem:
        return await _show(request, errors=[words.gettext(problem)], status_code=400)
    flash(request, "Resident details saved.")
    return RedirectResponse(f"/residents/{rid}", status_code=303)


def _parse_review(
    form: Any, today: date, next_default_days: int, gettext: Callable[..., str]
) -> tuple[dict[str, Any], list[str]]:
    """The review's fields, and what is wrong (in the words ``gettext`` translates)."""
    errors: list[str] = []
    method = str(form.get("method") or "phone")
    outcome = str(form.get("outcome") or "")
    reason = str(form.get("remove_reason") or "") or None
    note = str(form.get("note") or "").strip()
    if method not in METHODS:
        errors.append(gettext("method: choose one of the list"))
    if outcome not in OUTCOMES:
        errors.append(gettext("outcome: choose one of the list"))
    if outcome == "removed":
        if reason not in REMOVE_REASONS:
            errors.append(gettext("remove: choose a reason"))
    else:
        reason = None
    if len(note) > 2000:
        errors.append(gettext("note: at most 2000 characters"))
    next_on: date | None = None
    if outcome == "remind_later":
        raw = str(form.get("remind_days") or "")
        if not raw.isdigit() or not 1 <= int(raw) <= 365:
            errors.append(gettext("remind later: choose the number of days"))
        else:
            next_on = today + timedelta(days=int(raw))
    elif outcome == NO_ANSWER:
        next_on = None  # a call attempt: the resident stays on the list as they were
    elif outcome != "removed":
        raw = str(form.get("next_follow_up_on") or "").strip()
        if raw:
            try:
                next_on = date.fromisoformat(raw)
            except ValueError:
                errors.append(gettext("next follow-up: not a date (YYYY-MM-DD)"))
            else:
                if next_on < today:
                    errors.append(gettext("next follow-up: must not be in the past"))
        else:
            next_on = today + timedelta(days=next_default_days)
    seen_raw = str(form.get("seen_until") or "")
    seen_until: datetime | None = None
    if seen_raw:
        try:
            seen_until = datetime.fromisoformat(seen_raw)
        except ValueError:
            errors.append(gettext("the page is out of date: reload it"))
        else:
            if seen_until.tzinfo is None:
                errors.append(gettext("the page is out of date: reload it"))
    return {
        "method": method,
        "outcome": outcome,
        "remove_reason": reason,
        "note": note,
        "next_follow_up_on": next_on,
        "seen_until": seen_until,
    }, errors


@require("doctor")
async def review(request: Request) -> Response:
    rid = _resident_id(request)
    form = await request.form()
    user = request.state.user
    at = now(request)
    st = state(request)
    fields, errors = _parse_review(
        form, lang(request).today(at), st.rules.followup.next_follow_up_days, lang(request).gettext
    )
    if errors:
        return await _show(request, errors=errors, status_code=400)
    seen_until = fields.pop("seen_until")

    def work(session: Session) -> str | None:
        res = session.get(Resident, rid)
        if res is None:
            return None
        attempt = fields["outcome"] == NO_ANSWER  # a call attempt: the readings stay open
        rev = save_review(
            session,
            resident_id=rid,
            doctor_id=user.id,
            now=at,
            seen_until=None if attempt else seen_until,
            **fields,
        )
        after_review(session, request, rev, now=at)
        return res.name or ""

    name = await db(request, work)
    if name is None:
        return error(request, 404, "No such resident.")
    if fields["outcome"] == NO_ANSWER:
        flash(request, "No answer recorded for %(name)s: kept on the list.", name=name)
    elif name:
        flash(request, "Review saved for %(name)s.", name=name)
    else:
        flash(request, "Review saved.")
    return RedirectResponse("/list", status_code=303)


def after_review(session: Session, request: Request, rev: Review, *, now: datetime) -> None:
    """What every saved review does next: the resident's urgent alerts acknowledged, the
    audit entry, the list's status refreshed (in the review's transaction)."""
    user = request.state.user
    acked = acknowledge(session, rev.resident_id, user_id=user.id, now=now)
    audit(
        session,
        action="review",
        now=now,
        user_id=user.id,
        username=user.username,
        target=f"resident:{rev.resident_id}",
        detail={
            "review": rev.id,
            "outcome": rev.outcome,
            "readings": len(rev.readings),
            "alerts_acknowledged": [a.reading_uuid for a in acked],
        },
        remote=remote(request),
    )
    refresh_residents(
        session,
        [rev.resident_id],
        rules=state(request).rules,
        now=now,
        tz=state(request).tz,
    )


@require("doctor")
async def ack(request: Request) -> Response:
    """Acknowledge a resident's urgent alert from the list (the review follows)."""
    rid = _resident_id(request)
    user = request.state.user
    at = now(request)

    def work(session: Session) -> int:
        acked = acknowledge(session, rid, user_id=user.id, now=at)
        audit(
            session,
            action="alert_ack",
            now=at,
            user_id=user.id,
            username=user.username,
            target=f"resident:{rid}",
            detail={"alerts": [a.reading_uuid for a in acked]},
            remote=remote(request),
        )
        return len(acked)

    n = await db(request, work)
    flash(request, "%(n)s alert(s) acknowledged.", n=n)
    return RedirectResponse("/list", status_code=303)


@require("doctor")
async def fhir(request: Request) -> Response:
    rid = _resident_id(request)
    user = request.state.user
    at = now(request)
    st = state(request)

    def work(session: Session) -> dict[str, Any] | None:
        res = session.get(Resident, rid)
        if res is None:
            return None
        readings = list(
            session.scalars(
                select(Reading).where(Reading.resident_id == rid).order_by(*OLDEST_FIRST)
            )
        )
        stations = {s.id: s for s in session.scalars(select(Station))}
        bundle = readings_bundle(res, readings, stations, rules=st.rules, now=at)
        audit(
            session,
            action="export_fhir",
            now=at,
            user_id=user.id,
            username=user.username,
            target=f"resident:{rid}",
            detail={"observations": sum(1 for r in readings if r.kind != "device_event")},
            remote=remote(request),
        )
        return bundle

    bundle = await db(request, work)
    if bundle is None:
        return error(request, 404, "No such resident.")
    return Response(
        json.dumps(bundle, ensure_ascii=False, indent=1),
        media_type="application/fhir+json",
        headers={"Content-Disposition": f'attachment; filename="resident-{rid}-fhir.json"'},
    )
