"""The national follow-up record (随访服务记录表): the form pre-filled from the kiosk, saving
it as the review, correcting a saved record (every version kept), its A4 print, and the
export of records (CSV, XLSX)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from followup.db.audit_log import audit
from followup.db.auth import User
from followup.db.models import Reading, Resident
from followup.db.records import (
    WAY_TO_METHOD,
    FollowUpRecord,
    FollowUpRecordVersion,
    StaleRecord,
    correct_record,
    last_record,
    load_prefill,
    new_record,
    versions_of,
)
from followup.db.reviews import RECORD_OUTCOME, save_review
from followup.db.status_store import refresh_residents
from followup.messages import N_
from followup.record import fields as F
from followup.record.export import ExportRow, table, to_csv, to_xlsx
from followup.record.fields import RecordContent, RecordFormError, parse_form
from followup.record.prefill import Prefill, suggested_classification
from followup.web.common import db, error, flash, lang, now, remote, render, require, state
from followup.web.i18n import Lang
from followup.web.views_resident import after_review
from followup.web.words import sex_name

CARRIED = (
    "height_cm",
    "weight_target_kg",
    "bmi_target",
    "smoking_per_day",
    "smoking_target",
    "drinking_liang_per_day",
    "drinking_target",
    "exercise_times_per_week",
    "exercise_minutes",
    "exercise_target_times_per_week",
    "exercise_target_minutes",
    "salt",
    "salt_target",
    "staple_g_per_day",
    "staple_target_g_per_day",
    "other_medicines",
    "insulin_type",
    "insulin_usage",
)
"""What the last record of the kind carries into the new one (goals, height, medicines):
what rarely changes between two visits."""
EXPORT_LIMIT = 50_000
FILTER_NAMES = {"kind": N_("Form"), "from": N_("Visit date from"), "to": N_("Visit date to")}
"""The records' filters, named in the page's words when one is not valid."""


def _kind(request: Request) -> str | None:
    k = str(request.path_params.get("kind", ""))
    return k if k in F.KINDS else None


def _choices() -> dict[str, Any]:
    return {
        "kinds": F.KINDS,
        "ways": F.WAYS,
        "symptom_names": F.SYMPTOMS,
        "foot_pulse": F.FOOT_PULSE,
        "sides": F.SIDES,
        "salt_levels": F.SALT,
        "grades": F.GRADES,
        "adherence": F.ADHERENCE,
        "hypoglycaemia": F.HYPOGLYCAEMIA,
        "classifications": F.CLASSIFICATIONS,
        "referral_results": F.REFERRAL_RESULTS,
        "medicine_rows": F.MEDICINE_ROWS,
        "labels": F.LABELS,
    }


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _defaults(
    kind: str,
    res: Resident,
    prefill: Prefill,
    last: FollowUpRecord | None,
    *,
    today: date,
    doctor: str,
    request: Request,
) -> tuple[dict[str, str], list[str], list[dict[str, str]]]:
    """The form's first values: the kiosk's readings, the last record's goals and
    medicines, today's date, the next visit after the rules' interval."""
    rules = state(request).rules
    values: dict[str, str] = {}
    medicines: list[dict[str, str]] = []
    if last is not None:
        before = last.form
        for name in CARRIED:
            values[name] = _text(getattr(before, name))
        medicines = [
            {"name": m.name, "times": _text(m.times_per_day), "mg": _text(m.mg_per_time)}
            for m in before.medicines
        ]
    values.update(
        {
            "visit_date": today.isoformat(),
            "way": "clinic",
            "systolic_mmhg": _text(prefill.systolic_mmhg),
            "diastolic_mmhg": _text(prefill.diastolic_mmhg),
            "heart_rate_bpm": _text(prefill.heart_rate_bpm),
            "next_visit_on": (
                today + timedelta(days=rules.followup.next_follow_up_days)
            ).isoformat(),
            "doctor_signature": doctor,
            "classification": suggested_classification(
                kind, prefill, birth_date=res.birth_date, today=today, rules=rules
            )
            or "",
        }
    )
    if prefill.weight_kg is not None:  # the station's scale: newer than the last record's
        values["weight_kg"] = _text(prefill.weight_kg)
        values["bmi"] = _text(prefill.bmi)
        if prefill.height_cm is not None:
            values["height_cm"] = _text(prefill.height_cm)
    if kind == "diabetes":
        values["fasting_glucose_mmol_per_l"] = _text(prefill.fasting_glucose_mmol_per_l)
    return values, [], medicines


def _content_values(
    content: RecordContent,
) -> tuple[dict[str, str], list[str], list[dict[str, str]]]:
    """A saved form's values as the form shows them (to correct it)."""
    values: dict[str, str] = {}
    for name in RecordContent.model_fields:
        if name in ("kind", "symptoms", "medicines", "adverse_reactions"):
            continue
        v = getattr(content, name)
        values[name] = v.isoformat() if isinstance(v, date) else _text(v)
    values["adverse_reactions"] = "yes" if content.adverse_reactions else "no"
    medicines = [
        {"name": m.name, "times": _text(m.times_per_day), "mg": _text(m.mg_per_time)}
        for m in content.medicines
    ]
    return values, list(content.symptoms), medicines


def _submitted(form: FormData) -> tuple[dict[str, str], list[str], list[dict[str, str]]]:
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    medicines = [
        {
            "name": values.get(f"medicine_{i}_name", ""),
            "times": values.get(f"medicine_{i}_times", ""),
            "mg": values.get(f"medicine_{i}_mg", ""),
        }
        for i in range(1, F.MEDICINE_ROWS + 1)
    ]
    return values, [str(s) for s in form.getlist("symptoms")], medicines


def _load(
    session: Session, rid: int, kind: str, at: datetime, request: Request
) -> dict[str, Any] | None:
    res = session.get(Resident, rid)
    if res is None:
        return None
    st = state(request)
    prefill = load_prefill(session, rid, kind, now=at, rules=st.rules)
    latest_received = session.scalars(
        select(Reading.received_at)
        .where(Reading.resident_id == rid)
        .order_by(Reading.received_at.desc())
        .limit(1)
    ).first()
    return {
        "resident": res,
        "prefill": prefill,
        "last": last_record(session, rid, kind),
        "seen_until": latest_received.isoformat() if latest_received else "",
        "window_days": st.rules.followup.overdue_days,
    }


async def _show_form(
    request: Request,
    kind: str,
    *,
    submitted: FormData | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    rid: int = request.path_params["rid"]
    at = now(request)
    data = await db(request, _load, rid, kind, at, request)
    if data is None:
        return error(request, 404, "No such resident.")
    words = lang(request)
    user = request.state.user
    if submitted is None:
        values, symptoms, medicines = _defaults(
            kind,
            data["resident"],
            data["prefill"],
            data["last"],
            today=words.today(at),
            doctor=user.display_name or user.username,
            request=request,
        )
    else:
        values, symptoms, medicines = _submitted(submitted)
        data["seen_until"] = values.get("seen_until", data["seen_until"])
    while len(medicines) < F.MEDICINE_ROWS:
        medicines.append({"name": "", "times": "", "mg": ""})
    return render(
        request,
        "record_form.html",
        {
            **data,
            **_choices(),
            "kind": kind,
            "values": values,
            "checked": set(symptoms),
            "medicines": medicines,
            "errors": errors or [],
        },
        status_code,
    )


@require("doctor")
async def record_form(request: Request) -> Response:
    kind = _kind(request)
    if kind is None:
        return error(request, 404, "No such form.")
    return await _show_form(request, kind)


def _field_label(name: str) -> str:
    return F.LABELS.get(name, name)


def _checked(
    kind: str, form: FormData, words: Lang, at: datetime
) -> tuple[RecordContent | None, list[str]]:
    """The submitted form as a record's content, or what is wrong with it (in the
    page's words): the same checks for a new record and for a correction."""
    try:
        content = parse_form(kind, form, [str(s) for s in form.getlist("symptoms")])
    except RecordFormError as err:
        return None, [
            (f"{words.gettext(_field_label(f))}: " if f else "") + words.gettext(m, **p)
            for f, m, p in err.problems
        ]
    if content.visit_date > words.today(at):
        return None, [
            f"{words.gettext(F.LABELS['visit_date'])}: "
            + words.gettext("must not be in the future")
        ]
    return content, []


@require("doctor")
async def record_save(request: Request) -> Response:
    kind = _kind(request)
    if kind is None:
        return error(request, 404, "No such form.")
    form = await request.form()
    words = lang(request)
    at = now(request)
    rid: int = request.path_params["rid"]
    content, problems = _checked(kind, form, words, at)
    if content is None:
        return await _show_form(request, kind, submitted=form, errors=problems, status_code=400)
    seen_raw = str(form.get("seen_until") or "")
    seen_until: datetime | None = None
    if seen_raw:
        try:
            seen_until = datetime.fromisoformat(seen_raw)
        except ValueError:
            seen_until = None
        if seen_until is None or seen_until.tzinfo is None:
            return await _show_form(
                request,
                kind,
                submitted=form,
                errors=[words.gettext("the page is out of date: reload it")],
                status_code=400,
            )
    user = request.state.user
    st = state(request)

    def work(session: Session) -> tuple[int, str] | None:
        res = session.get(Resident, rid)
        if res is None:
            return None
        prefill = load_prefill(
            session, rid, kind, now=at, rules=st.rules, received_until=seen_until
        )
        rev = save_review(
            session,
            resident_id=rid,
            doctor_id=user.id,
            now=at,
            seen_until=seen_until,
            method=WAY_TO_METHOD[content.way],
            outcome=RECORD_OUTCOME,
            next_follow_up_on=content.next_visit_on,
            note=content.remarks,
        )
        rec = new_record(
            resident_id=rid,
            doctor_id=user.id,
            review_id=rev.id,
            content=content,
            prefill=prefill,
            now=at,
        )
        session.add(rec)
        session.flush()
        after_review(session, request, rev, now=at)
        audit(
            session,
            action="followup_record",
            now=at,
            user_id=user.id,
            username=user.username,
            target=f"resident:{rid}",
            detail={"record": rec.id, "kind": kind, "review": rev.id},
            remote=remote(request),
        )
        return rec.id, res.name or f"#{rid}"

    saved = await db(request, work)
    if saved is None:
        return error(request, 404, "No such resident.")
    record_id, name = saved
    flash(request, "Follow-up record saved for %(name)s.", name=name)
    return RedirectResponse(f"/records/{record_id}/print", status_code=303)


def _user_names(session: Session) -> dict[int, str]:
    return {u.id: u.display_name or u.username for u in session.scalars(select(User))}


def _version_param(request: Request) -> int | None:
    """``?version=N``: an earlier version to show (0 when not a version number, which no
    record has); None without it."""
    raw = request.query_params.get("version")
    if raw is None or raw == "":
        return None
    return int(raw) if raw.isdigit() and len(raw) <= 6 else 0


@require("doctor")
async def record_print(request: Request) -> Response:
    """The record's A4 print: its current version, or with ``?version=N`` an earlier one
    (marked as replaced); below the paper (not printed), every version: who saved it,
    when, what it changed."""
    record_id: int = request.path_params["record_id"]
    wanted = _version_param(request)
    user = request.state.user
    at = now(request)

    def work(session: Session) -> dict[str, Any] | None:
        rec = session.get(FollowUpRecord, record_id)
        if rec is None:
            return None
        versions = versions_of(session, rec.id)
        shown: FollowUpRecordVersion | None = None
        if wanted is not None and wanted != rec.version:
            shown = next((v for v in versions if v.version == wanted), None)
            if shown is None:
                return {"missing_version": True}
        res = session.get(Resident, rec.resident_id)
        names = _user_names(session)
        audit(
            session,
            action="print_record",
            now=at,
            user_id=user.id,
            username=user.username,
            target=f"resident:{rec.resident_id}",
            detail={"record": rec.id, "version": shown.version if shown else rec.version},
            remote=remote(request),
        )
        return {
            "record": rec,
            "form": shown.form if shown else rec.form,
            "shown_version": shown,
            "versions": versions,
            "resident": res,
            "user_names": names,
            "doctor_name": names.get(rec.doctor_id, ""),
            "corrected_by": names.get(rec.updated_by, "") if rec.updated_by else "",
        }

    data = await db(request, work)
    if data is None:
        return error(request, 404, "No such record.")
    if data.get("missing_version"):
        return error(request, 404, "No such version of this record.")
    return render(request, "record_print.html", {**data, **_choices()})


def _load_record(session: Session, record_id: int) -> dict[str, Any] | None:
    rec = session.get(FollowUpRecord, record_id)
    if rec is None:
        return None
    return {
        "record": rec,
        "resident": session.get(Resident, rec.resident_id),
        "saved_by": _user_names(session).get(rec.updated_by or rec.doctor_id, ""),
    }


async def _show_correction(
    request: Request,
    record_id: int,
    *,
    submitted: FormData | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
    version: int | None = None,
) -> Response:
    """The record form filled with a saved record's current version (or what the doctor
    sent back, with what is wrong), to correct it."""
    data = await db(request, _load_record, record_id)
    if data is None:
        return error(request, 404, "No such record.")
    rec: FollowUpRecord = data["record"]
    if submitted is None:
        values, symptoms, medicines = _content_values(rec.form)
    else:
        values, symptoms, medicines = _submitted(submitted)
    while len(medicines) < F.MEDICINE_ROWS:
        medicines.append({"name": "", "times": "", "mg": ""})
    return render(
        request,
        "record_form.html",
        {
            **data,
            **_choices(),
            "kind": rec.kind,
            "editing": True,
            "form_version": version if version is not None else rec.version,
            "values": values,
            "checked": set(symptoms),
            "medicines": medicines,
            "errors": errors or [],
        },
        status_code,
    )


def _record_kind(session: Session, record_id: int) -> str | None:
    rec = session.get(FollowUpRecord, record_id)
    return rec.kind if rec is not None else None


@require("doctor")
async def record_edit_form(request: Request) -> Response:
    return await _show_correction(request, request.path_params["record_id"])


@require("doctor")
async def record_correct(request: Request) -> Response:
    """Save a correction of a saved record as its next version (audited with the fields it
    changed); the list's status follows the corrected next visit."""
    record_id: int = request.path_params["record_id"]
    form = await request.form()
    words = lang(request)
    at = now(request)
    raw_version = str(form.get("version") or "")
    if not raw_version.isdigit() or len(raw_version) > 6:
        return error(request, 400, "The form is out of date: open the record again.")
    expected = int(raw_version)
    kind = await db(request, _record_kind, record_id)
    if kind is None:
        return error(request, 404, "No such record.")
    content, problems = _checked(kind, form, words, at)
    if content is None:
        return await _show_correction(
            request, record_id, submitted=form, errors=problems, status_code=400, version=expected
        )
    user = request.state.user
    st = state(request)

    def work(session: Session) -> tuple[list[str], int, str]:
        rec = session.get(FollowUpRecord, record_id)
        if rec is None:
            raise LookupError(record_id)
        changed = correct_record(
            session, rec, content, user_id=user.id, now=at, expected_version=expected
        )
        res = session.get(Resident, rec.resident_id)
        if changed:
            audit(
                session,
                action="followup_record_correct",
                now=at,
                user_id=user.id,
                username=user.username,
                target=f"resident:{rec.resident_id}",
                detail={
                    "record": rec.id,
                    "kind": rec.kind,
                    "version": rec.version,
                    "changed": changed,
                },
                remote=remote(request),
            )
            refresh_residents(session, [rec.resident_id], rules=st.rules, now=at, tz=st.tz)
        return changed, rec.version, (res.name if res and res.name else f"#{rec.resident_id}")

    try:
        changed, _version, name = await db(request, work)
    except LookupError:
        return error(request, 404, "No such record.")
    except StaleRecord:
        # Nothing is overwritten unseen: the form shows the version saved meanwhile.
        return await _show_correction(
            request,
            record_id,
            errors=[
                words.gettext(
                    "Someone saved a correction of this record meanwhile: the form now shows"
                    " their version; make your correction again."
                )
            ],
            status_code=409,
        )
    if changed:
        flash(request, "Follow-up record of %(name)s corrected.", name=name)
    else:
        flash(request, "Nothing was changed: the record stays as it was.")
    return RedirectResponse(f"/records/{record_id}/print", status_code=303)


def _export_filters(request: Request) -> tuple[str | None, date | None, date | None, list[str]]:
    q = request.query_params
    errors: list[str] = []
    kind = q.get("kind") or None
    if kind is not None and kind not in F.KINDS:
        errors.append("kind")
        kind = None
    days: list[date | None] = []
    for name in ("from", "to"):
        raw = (q.get(name) or "").strip()
        try:
            days.append(date.fromisoformat(raw) if raw else None)
        except ValueError:
            errors.append(name)
            days.append(None)
    return kind, days[0], days[1], errors


@require("doctor")
async def records_page(request: Request) -> Response:
    """The saved records (newest first) and the export's choices."""
    kind, start, end, errors = _export_filters(request)

    def work(session: Session) -> list[tuple[FollowUpRecord, Resident]]:
        return list(session.execute(_query(kind, start, end).limit(200)))

    rows = await db(request, work)
    return render(
        request,
        "records.html",
        {
            **_choices(),
            "rows": rows,
            "kind": kind or "",
            "start": start.isoformat() if start else "",
            "end": end.isoformat() if end else "",
            "errors": [lang(request).gettext(FILTER_NAMES[e]) for e in errors],
        },
    )


def _query(kind: str | None, start: date | None, end: date | None) -> Any:
    q = select(FollowUpRecord, Resident).join(Resident, Resident.id == FollowUpRecord.resident_id)
    if kind:
        q = q.where(FollowUpRecord.kind == kind)
    if start:
        q = q.where(FollowUpRecord.visit_date >= start)
    if end:
        q = q.where(FollowUpRecord.visit_date <= end)
    return q.order_by(FollowUpRecord.visit_date.desc(), FollowUpRecord.id.desc())


async def _export(request: Request, fmt: str) -> Response:
    kind, start, end, errors = _export_filters(request)
    if errors:
        return error(request, 400, "The export's filters are not valid.")
    reveal = request.query_params.get("reveal") == "1"
    user = request.state.user
    at = now(request)
    words = lang(request)

    def work(session: Session) -> list[ExportRow]:
        doctors = {u.id: u.display_name or u.username for u in session.scalars(select(User))}
        pairs = session.execute(_query(kind, start, end).limit(EXPORT_LIMIT))
        rows = [
            ExportRow(
                record_id=rec.id,
                content=rec.form,
                name=res.name,
                id_number=res.id_number if reveal else res.id_masked,
                sex=sex_name(words, res.sex),
                birth_date=res.birth_date,
                doctor=doctors.get(rec.doctor_id, ""),
                saved_at=rec.created_at,
                corrected_at=rec.updated_at,
                corrected_by=doctors.get(rec.updated_by, "") if rec.updated_by else "",
            )
            for rec, res in pairs
        ]
        audit(
            session,
            action="export_records",
            now=at,
            user_id=user.id,
            username=user.username,
            detail={
                "format": fmt,
                "kind": kind,
                "from": start.isoformat() if start else None,
                "to": end.isoformat() if end else None,
                "rows": len(rows),
                "id_numbers_revealed": reveal,
            },
            remote=remote(request),
        )
        return rows

    rows = await db(request, work)
    head, body = table(rows, words)
    stem = f"followup-records-{words.today(at):%Y%m%d}"
    if fmt == "csv":
        return Response(
            to_csv(head, body),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'},
        )
    return Response(
        to_xlsx(head, body, title=words.gettext("Follow-up records")),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'},
    )


@require("doctor")
async def records_csv(request: Request) -> Response:
    return await _export(request, "csv")


@require("doctor")
async def records_xlsx(request: Request) -> Response:
    return await _export(request, "xlsx")
