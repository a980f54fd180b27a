"""Administrator pages: accounts and the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from followup.db.audit import AuditEvent
from followup.db.audit_log import audit
from followup.db.auth import ROLES, User
from followup.messages import N_
from followup.web.accounts import MIN_PASSWORD, AccountError, add_user, end_sessions
from followup.web.common import db, error, flash, lang, now, remote, render, require

AUDIT_PAGE = 200
ACCOUNT_ERRORS = {
    "password_short": N_("password must have at least %(n)s characters"),
    "username_invalid": N_("username must be 1-64 of a-z 0-9 . _ -"),
    "role_invalid": N_("role must be one of %(roles)s"),
    "username_taken": N_("user %(name)s exists"),
}
"""What :class:`AccountError` says, by its reason, in the page's language."""
ACTION_NAMES = {
    "login": N_("signed in"),
    "login_failed": N_("sign-in failed"),
    "account_language": N_("language of the pages changed"),
    "user_add": N_("account created"),
    "user_enable": N_("account enabled"),
    "user_disable": N_("account disabled"),
    "user_password": N_("password changed"),
    "reveal_id": N_("whole ID number shown"),
    "resident_edit": N_("resident's details changed"),
    "review": N_("review saved"),
    "alert_ack": N_("urgent alert acknowledged"),
    "followup_record": N_("follow-up record saved"),
    "followup_record_correct": N_("follow-up record corrected"),
    "print_record": N_("follow-up record printed"),
    "export_records": N_("follow-up records exported"),
    "print_list": N_("follow-up list printed"),
    "export_csv": N_("follow-up list exported"),
    "export_fhir": N_("readings exported (FHIR)"),
    "help_ack": N_("call for staff acknowledged"),
    "escalation": N_("escalation step"),
    "fleet_command": N_("command sent to a station"),
    "config_set": N_("station configuration set"),
    "config_clear": N_("station configuration cleared"),
    "station_add": N_("station added"),
    "roster_import": N_("roster imported"),
    "release_publish": N_("release published"),
    "status_rebuild": N_("statuses rebuilt"),
    "rollout.start": N_("rollout started"),
    "rollout.pause": N_("rollout paused"),
    "rollout.resume": N_("rollout resumed"),
}
"""Each audited action in words (the audit log shows the code beside them)."""


def _users(session: Session) -> list[dict[str, Any]]:
    return [
        {
            "id": u.id,
            "username": u.username,
            "display_name": u.display_name,
            "role": u.role,
            "active": u.active,
            "created_at": u.created_at,
            "locked_until": u.locked_until,
        }
        for u in session.scalars(select(User).order_by(User.username))
    ]


@require("admin")
async def admin_page(request: Request) -> Response:
    users = await db(request, _users)
    return render(request, "admin_users.html", {"users": users, "roles": ROLES, "errors": []})


@require("admin")
async def admin_add_user(request: Request) -> Response:
    form = await request.form()
    admin = request.state.user
    at = now(request)
    username = str(form.get("username") or "")
    role = str(form.get("role") or "")

    def work(session: Session) -> str | None:
        try:
            u = add_user(
                session,
                username=username,
                password=str(form.get("password") or ""),
                role=role,
                display_name=str(form.get("display_name") or ""),
                now=at,
            )
        except AccountError as err:
            words = ACCOUNT_ERRORS.get(err.reason or "")
            if words is None:
                return str(err)
            return lang(request).gettext(
                words, n=MIN_PASSWORD, roles=", ".join(ROLES), name=repr(username.strip().lower())
            )
        audit(
            session,
            action="user_add",
            now=at,
            user_id=admin.id,
            username=admin.username,
            target=f"user:{u.id}",
            detail={"username": u.username, "role": u.role},
            remote=remote(request),
        )
        return None

    problem = await db(request, work)
    if problem:
        users = await db(request, _users)
        return render(
            request, "admin_users.html", {"users": users, "roles": ROLES, "errors": [problem]}, 400
        )
    flash(request, "Account created.")
    return RedirectResponse("/admin", status_code=303)


@require("admin")
async def admin_set_active(request: Request) -> Response:
    uid: int = request.path_params["uid"]
    form = await request.form()
    admin = request.state.user
    at = now(request)
    active = form.get("active") == "1"
    if uid == admin.id and not active:
        return error(request, 400, "You cannot disable your own account.")

    def work(session: Session) -> bool:
        u = session.get(User, uid)
        if u is None:
            return False
        u.active = active
        if active:
            u.locked_until = None
            u.failed_logins = 0
        else:
            end_sessions(session, user_id=uid)  # signed out everywhere, at once
        audit(
            session,
            action="user_enable" if active else "user_disable",
            now=at,
            user_id=admin.id,
            username=admin.username,
            target=f"user:{uid}",
            remote=remote(request),
        )
        return True

    if not await db(request, work):
        return error(request, 404, "No such account.")
    return RedirectResponse("/admin", status_code=303)


@require("admin")
async def admin_audit(request: Request) -> Response:
    action = (request.query_params.get("action") or "").strip()[:40]

    def work(session: Session) -> list[AuditEvent]:
        q = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        if action:
            q = q.where(AuditEvent.action == action)
        events = list(session.scalars(q.limit(AUDIT_PAGE)))
        session.expunge_all()
        return events

    events = await db(request, work)
    words = lang(request)
    names = {k: words.gettext(v) for k, v in ACTION_NAMES.items()}
    return render(
        request, "admin_audit.html", {"events": events, "action": action, "action_names": names}
    )
