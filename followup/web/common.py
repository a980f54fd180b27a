"""What every view shares: the database in a worker thread, sessions, roles, CSRF, rendering."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import jinja2
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from followup.db.auth import User
from followup.web.accounts import CurrentUser, Lockout
from followup.web.listing import human_ago, human_drift, human_duration
from healthkiosk.rules import RulesConfig

T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]
TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True, slots=True)
class WebSettings:
    secret_key: str
    https_only: bool = False
    session_max_age_s: int = 12 * 3600
    poll_interval_s: float = 5.0
    """How often an open list page asks for new rows (urgent within 60 s)."""
    refresh_interval_s: float = 2.0
    """How often the status refresher follows new readings."""
    alert_max_age_s: float = 24 * 3600.0
    """Readings measured longer ago than this raise no alert (a late backlog is not news)."""
    webhook_url: str | None = None
    lockout: Lockout = Lockout()  # noqa: RUF009  (frozen)
    list_limit: int = 100


@dataclass
class AppState:
    engine: Engine
    sessions: sessionmaker[Session]
    rules: RulesConfig
    settings: WebSettings
    templates: Jinja2Templates
    clock: Callable[[], datetime]


def make_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
    )
    env.filters["ago"] = human_ago
    env.filters["duration"] = human_duration
    env.filters["drift"] = human_drift
    env.filters["dt"] = lambda v: v.strftime("%Y-%m-%d %H:%M") if v else ""
    return Jinja2Templates(env=env)


def state(request: Request) -> AppState:
    st: AppState = request.app.state.hk
    return st


def now(request: Request) -> datetime:
    return state(request).clock()


async def db(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(session, ...)`` in a worker thread, in one transaction (committed on success)."""
    sessions = state(request).sessions

    def work() -> T:
        with sessions.begin() as session:
            return fn(session, *args, **kwargs)

    return await run_in_threadpool(work)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def csrf_ok(request: Request) -> bool:
    form = await request.form()
    sent = form.get("csrf")
    have = request.session.get("csrf")
    return (
        isinstance(sent, str)
        and isinstance(have, str)
        and bool(have)
        and hmac.compare_digest(sent.encode(), have.encode())
    )


def remote(request: Request) -> str:
    return request.client.host if request.client else ""


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    ctx: dict[str, Any] = {
        "user": getattr(request.state, "user", None),
        "csrf": csrf_token(request),
        "nonce": getattr(request.state, "nonce", ""),
        "now": now(request),
        "flash": request.session.pop("flash", None),
    }
    ctx.update(context or {})
    resp: HTMLResponse = state(request).templates.TemplateResponse(
        request, name, ctx, status_code=status_code
    )
    return resp


def _load_user(session: Session, user_id: int) -> CurrentUser | None:
    u = session.get(User, user_id)
    if u is None or not u.active:
        return None
    return CurrentUser(u.id, u.username, u.role, u.display_name)


def require(role: str) -> Callable[[Endpoint], Endpoint]:
    """Only a signed-in user with ``role``; every POST must carry the session's CSRF token."""

    def deco(fn: Endpoint) -> Endpoint:
        async def wrapper(request: Request) -> Response:
            uid = request.session.get("uid")
            user = await db(request, _load_user, uid) if isinstance(uid, int) else None
            if user is None:
                request.session.pop("uid", None)
                if request.method == "GET":
                    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
                return error(request, 401, "Please sign in.")
            request.state.user = user
            if user.role != role:
                return error(request, 403, "Your role does not allow this page.")
            if request.method == "POST" and not await csrf_ok(request):
                return error(request, 403, "The form expired or was not sent by this site.")
            return await fn(request)

        wrapper.__name__ = fn.__name__
        wrapper.__doc__ = fn.__doc__
        return wrapper

    return deco


def error(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", {"status": status, "message": message}, status)
