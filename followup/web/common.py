"""What every view shares: the database in a worker thread, sessions, roles, CSRF, rendering."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import jinja2
from jinja2 import pass_context
from jinja2.runtime import Context
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from followup.alerts.escalation import DutyChain
from followup.messages import N_
from followup.web.accounts import CurrentUser, Lockout, SessionPolicy, session_user
from followup.web.i18n import DEFAULT_TIMEZONE, LANGUAGES, Lang, load_zone, negotiate
from followup.web.words import (
    category_label,
    category_name,
    event_text,
    kind_name,
    meal_name,
    outcome_name,
    reason_text,
    sex_name,
    short_digest,
    status_name,
    summary_text,
)
from healthkiosk.rules import RulesConfig

T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]
TEMPLATES = Path(__file__).parent / "templates"
ROLE_NAMES = {"doctor": N_("Doctor"), "admin": N_("Administrator")}


@dataclass(frozen=True, slots=True)
class WebSettings:
    secret_key: str
    https_only: bool = False
    """Mark the session cookie Secure even for a request that did not come over TLS
    (it is Secure whenever it did: the scheme after a trusted proxy's headers)."""
    session_max_age_s: int = 12 * 3600
    session_idle_s: int = 2 * 3600
    """A session unused this long ends (kept on the server: ``web_sessions``)."""
    poll_interval_s: float = 5.0
    """How often an open list page asks for new rows (urgent within 60 s)."""
    refresh_interval_s: float = 2.0
    """How often the status refresher follows new readings."""
    alert_late_after_s: float = 24 * 3600.0
    """An alert for a reading made longer ago than this is marked ``late`` (a
    backlog delivered late); it is raised all the same."""
    webhook_url: str | None = None
    lockout: Lockout = Lockout()  # noqa: RUF009  (frozen)
    list_limit: int = 100
    timezone: str = DEFAULT_TIMEZONE
    """The district's time zone (``followup.timezone``): every time is shown in it."""
    duty_chain: DutyChain = DutyChain()  # noqa: RUF009  (frozen)
    """``[followup.escalation]``: unacknowledged urgent readings go along it (through
    ``webhook_url``; without a webhook nothing is escalated)."""

    def __post_init__(self) -> None:
        load_zone(self.timezone)  # raises ConfigError naming followup.timezone

    @property
    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(
            max_age=timedelta(seconds=self.session_max_age_s),
            idle=timedelta(seconds=self.session_idle_s),
        )


@dataclass
class AppState:
    engine: Engine
    sessions: sessionmaker[Session]
    rules: RulesConfig
    settings: WebSettings
    templates: Jinja2Templates
    clock: Callable[[], datetime]

    @property
    def tz(self) -> ZoneInfo:
        return load_zone(self.settings.timezone)


def _lang(context: Context) -> Lang:
    lang = context.get("lang")
    if not isinstance(lang, Lang):  # a template rendered without render(): never silent
        raise RuntimeError("template rendered without its page language")
    return lang


@pass_context
def _gettext(context: Context, message: str) -> str:
    return _lang(context).catalog.gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return _lang(context).catalog.ngettext(singular, plural, n)


@pass_context
def _pgettext(context: Context, ctx: str, message: str) -> str:
    return _lang(context).catalog.pgettext(ctx, message)


@pass_context
def _npgettext(context: Context, ctx: str, singular: str, plural: str, n: int) -> str:
    return _lang(context).catalog.npgettext(ctx, singular, plural, n)


def _drift(lang: Lang, seconds: float | None) -> str:
    """A device clock's drift: 准时 / 快 12 秒 (on time / 12 s ahead)."""
    if seconds is None:
        return ""
    if abs(seconds) < 1.5:
        return lang.gettext("on time")
    amount = lang.duration(abs(seconds))
    if seconds > 0:
        return lang.gettext("%(time)s ahead", time=amount)
    return lang.gettext("%(time)s behind", time=amount)


def make_templates() -> Jinja2Templates:
    """The templates, with gettext (``{% trans %}``, ``_()``) in the page's language and
    the filters ``dt`` (date and time, labelled), ``date``, ``time``, ``ago`` and
    ``duration``, all in the page's language and the district's time zone."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext,
        ngettext=_ngettext,
        pgettext=_pgettext,
        npgettext=_npgettext,
        newstyle=True,
    )
    env.filters["ago"] = pass_context(lambda c, v, now: _lang(c).ago(v, now))
    env.filters["duration"] = pass_context(lambda c, v: _lang(c).duration(v))
    env.filters["dt"] = pass_context(lambda c, v: _lang(c).format_datetime(v))
    env.filters["date"] = pass_context(lambda c, v: _lang(c).format_date(v))
    env.filters["time"] = pass_context(lambda c, v: _lang(c).format_time(v))
    env.globals["category_name"] = category_name
    env.globals["event_text"] = event_text
    for fn in (category_label, reason_text, summary_text, sex_name, meal_name, kind_name,
               status_name):  # fmt: skip
        env.globals[fn.__name__] = fn
    env.globals["outcome_name"] = pass_context(lambda c, v: outcome_name(_lang(c), v))
    env.filters["short_digest"] = short_digest
    env.filters["drift"] = pass_context(lambda c, v: _drift(_lang(c), v))
    return Jinja2Templates(env=env)


def lang(request: Request) -> Lang:
    """The page's language: the signed-in account's setting, else the browser's
    ``Accept-Language``, else Chinese; times in the district's zone."""
    user = getattr(request.state, "user", None)
    chosen = getattr(user, "language", None)
    code = chosen if chosen in LANGUAGES else negotiate(request.headers.get("accept-language"))
    cached = getattr(request.state, "lang", None)
    if isinstance(cached, Lang) and cached.code == code:
        return cached
    result = Lang(code, state(request).tz)
    request.state.lang = result
    return result


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
    words = lang(request)
    ctx: dict[str, Any] = {
        "lang": words,
        "role_names": {k: words.gettext(v) for k, v in ROLE_NAMES.items()},
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


SESSION_KEY = "sid"
"""The session token's key in the signed cookie."""
SESSION_ENDED = N_("Your session has ended (signed out, or unused too long): please sign in again.")


async def current_user(request: Request) -> CurrentUser | None:
    """The signed-in user of this request (a live server-side session), or None."""
    token = request.session.get(SESSION_KEY)
    if token is None:
        return None
    st = state(request)
    user = await db(request, session_user, token, now=st.clock(), policy=st.settings.session_policy)
    if user is None:
        request.session.pop(SESSION_KEY, None)
    return user


def require(*roles: str) -> Callable[[Endpoint], Endpoint]:
    """Only a signed-in user with one of ``roles``; every POST must carry the session's
    CSRF token."""

    def deco(fn: Endpoint) -> Endpoint:
        async def wrapper(request: Request) -> Response:
            ended = request.session.get(SESSION_KEY) is not None  # a session, no longer live
            user = await current_user(request)
            if user is None:
                if request.method == "GET":
                    if ended:
                        flash(request, SESSION_ENDED)
                    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
                return error(request, 401, SESSION_ENDED if ended else N_("Please sign in."))
            request.state.user = user
            if user.role not in roles:
                return error(request, 403, "Your role does not allow this page.")
            if request.method == "POST" and not await csrf_ok(request):
                return error(request, 403, "The form expired or was not sent by this site.")
            return await fn(request)

        wrapper.__name__ = fn.__name__
        wrapper.__doc__ = fn.__doc__
        return wrapper

    return deco


def error(request: Request, status: int, message: str, **params: Any) -> HTMLResponse:
    """The error page; ``message`` is an English message id, translated here
    (``params`` fill its ``%(name)s`` placeholders)."""
    words = lang(request).gettext(message, **params)
    return render(request, "error.html", {"status": status, "message": words}, status)


def flash(request: Request, message: str, **params: Any) -> None:
    """A message for the next page (translated now, in the page's language)."""
    request.session["flash"] = lang(request).gettext(message, **params)
