"""Sign in and out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from followup.db.audit_log import audit
from followup.web.accounts import CurrentUser, check_login
from followup.web.common import csrf_ok, db, error, lang, now, remote, render, state
from followup.web.i18n import N_

MESSAGES = {
    "bad": N_("Wrong username or password."),
    "locked": N_("Too many failed attempts: this account is locked for a while."),
    "inactive": N_("This account is disabled."),
}


def _safe_next(value: object) -> str:
    nxt = str(value or "")
    if not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt:
        return "/"
    return nxt


async def login_page(request: Request) -> Response:
    return render(request, "login.html", {"next": _safe_next(request.query_params.get("next"))})


async def login(request: Request) -> Response:
    if not await csrf_ok(request):
        return error(request, 403, "The form expired or was not sent by this site.")
    form = await request.form()
    username = str(form.get("username") or "")
    password = str(form.get("password") or "")
    nxt = _safe_next(form.get("next"))
    at = now(request)
    lockout = state(request).settings.lockout

    def work(session):  # type: ignore[no-untyped-def]
        user, reason = check_login(
            session,
            username=username,
            password=password,
            now=at,
            remote=remote(request),
            lockout=lockout,
        )
        audit(
            session,
            action="login" if user else "login_failed",
            now=at,
            user_id=user.id if user else None,
            username=username[:64],
            detail={"reason": reason},
            remote=remote(request),
        )
        return user, reason

    user, reason = await db(request, work)
    if user is None:
        return render(
            request,
            "login.html",
            {"next": nxt, "message": lang(request).gettext(MESSAGES[reason])},
            status_code=401,
        )
    assert isinstance(user, CurrentUser)
    request.session.clear()
    request.session["uid"] = user.id
    if nxt == "/":
        nxt = "/admin" if user.role == "admin" else "/list"
    return RedirectResponse(nxt, status_code=303)


async def logout(request: Request) -> Response:
    if not await csrf_ok(request):
        return error(request, 403, "The form expired or was not sent by this site.")
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def home(request: Request) -> Response:
    uid = request.session.get("uid")

    def role(session):  # type: ignore[no-untyped-def]
        from followup.db.auth import User

        u = session.get(User, uid)
        return u.role if u is not None and u.active else None

    r = await db(request, role) if isinstance(uid, int) else None
    if r is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/admin" if r == "admin" else "/list", status_code=303)
