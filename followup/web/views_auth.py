"""Sign in and out."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from followup.db.audit_log import audit
from followup.web.accounts import FAILED, LoginResult, check_login, end_session, start_session
from followup.web.common import (
    SESSION_KEY,
    csrf_ok,
    current_user,
    db,
    error,
    lang,
    now,
    remote,
    render,
    state,
)


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
    st = state(request)
    at = now(request)
    addr = remote(request)
    tokens: list[str] = []

    def record(session: Session, result: LoginResult) -> None:
        audit(
            session,
            action="login" if result.user else "login_failed",
            now=at,
            user_id=result.user.id if result.user else None,
            username=username[:64],
            detail={"reason": result.reason},
            remote=addr,
        )
        if result.user is not None:
            tokens.append(
                start_session(
                    session,
                    user_id=result.user.id,
                    now=at,
                    policy=st.settings.session_policy,
                    remote=addr,
                )
            )

    result = await run_in_threadpool(
        check_login,
        st.sessions,
        username=username,
        password=password,
        now=at,
        remote=addr,
        lockout=st.settings.lockout,
        record=record,
    )
    if result.user is None:
        # One answer for unknown, wrong, locked, limited and disabled (the audit log
        # keeps which): nothing here tells which accounts exist.
        return render(
            request,
            "login.html",
            {"next": nxt, "message": lang(request).gettext(FAILED)},
            status_code=401,
        )
    # A new session (a new token: whatever was in the cookie before is not reused).
    request.session.clear()
    request.session[SESSION_KEY] = tokens[0]
    if nxt == "/":
        nxt = "/admin" if result.user.role == "admin" else "/list"
    return RedirectResponse(nxt, status_code=303)


async def logout(request: Request) -> Response:
    if not await csrf_ok(request):
        return error(request, 403, "The form expired or was not sent by this site.")
    token = request.session.get(SESSION_KEY)
    if token is not None:
        await db(request, end_session, token)  # a copy of the cookie is dead too
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def home(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/admin" if user.role == "admin" else "/list", status_code=303)
