"""The follow-up web app: routes, security headers, sessions, and the status refresher.

:func:`create_app` is the composition root's call (``healthkiosk followup
serve`` or a test): it is given the engine, the rules and the settings and
makes nothing at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from followup.alerts.escalation import escalate_once
from followup.alerts.urgent import Publish, alert_payload, deliver, record_alerts
from followup.db.alerts import Alert
from followup.db.status_store import catch_up
from followup.fleet.rollouts import RolloutTables
from followup.fleet.view import RolloutSource
from followup.messages import N_
from followup.web import (
    views_account,
    views_admin,
    views_auth,
    views_dashboard,
    views_fleet,
    views_help,
    views_list,
    views_record,
    views_resident,
)
from followup.web.common import AppState, WebSettings, current_user, error, make_templates
from followup.web.i18n import Lang, negotiate
from healthkiosk.rules import RulesConfig

log = logging.getLogger(__name__)


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        nonce = secrets.token_urlsafe(16)
        request.state.nonce = nonce
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = (
            f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        if request.url.scheme == "https":
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response


class SessionCookies:
    """Starlette's signed session cookie (it holds only the session's token and the
    CSRF token), marked ``Secure`` and named ``__Host-hk_session`` whenever the
    request came over TLS: the request's scheme, which the server takes from a
    trusted proxy's ``X-Forwarded-Proto`` (``followup.trusted_proxies``); or on
    every request with ``https_only``."""

    def __init__(self, app: ASGIApp, *, secret_key: str, max_age: int, https_only: bool) -> None:
        common: dict[str, Any] = {
            "secret_key": secret_key,
            "max_age": max_age,
            "same_site": "strict",
            "path": "/",
        }
        self.plain = SessionMiddleware(app, session_cookie="hk_session", **common)
        self.secure = SessionMiddleware(
            app, session_cookie="__Host-hk_session", https_only=True, **common
        )
        self.https_only = https_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tls = scope.get("scheme") in ("https", "wss")
        if scope["type"] in ("http", "websocket") and (tls or self.https_only):
            await self.secure(scope, receive, send)
        else:
            await self.plain(scope, receive, send)


HTTP_ERRORS = {
    404: N_("No such page."),
    405: N_("This page does not take that kind of request."),
}
"""What the error page says for a request no route takes (in the page's language)."""


async def http_error(request: Request, exc: Exception) -> Response:
    """A request no route takes (404, 405): the site's error page in the page's language,
    with the signed-in doctor's links, never the framework's plain English."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    request.state.user = await current_user(request)
    response = error(request, status, HTTP_ERRORS.get(status, N_("The request was refused.")))
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)
    return response


SERVER_ERROR = N_("Something went wrong on the server (it is logged). Try again in a moment.")


def server_error_page(hk: AppState) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The site's error page for an error no view caught (500), in the browser's language.
    It runs outside the session (the framework's outermost layer): no account, no forms."""

    async def server_error(request: Request, exc: Exception) -> Response:
        words = Lang(negotiate(request.headers.get("accept-language")), hk.tz)
        page = hk.templates.get_template("error.html").render(
            {
                "lang": words,
                "status": 500,
                "message": words.gettext(SERVER_ERROR),
                "user": None,
                "csrf": "",
                "nonce": "",
                "flash": None,
                "role_names": {},
                "now": hk.clock(),
                "request": request,
            }
        )
        return HTMLResponse(page, status_code=500, headers={"Cache-Control": "no-store"})

    return server_error


async def healthz(request: Request) -> Response:
    """Liveness for the service manager: no data, no session."""
    return PlainTextResponse("ok")


class RowId(Convertor[int]):
    """A row id in a URL: at most nine digits (a 32-bit column holds it). A longer
    one matches no route (404) instead of failing in the database (issue 19)."""

    regex = "[0-9]{1,9}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(int(value))


register_url_convertor("rowid", RowId())

ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/login", views_auth.login_page, methods=["GET"]),
    Route("/login", views_auth.login, methods=["POST"]),
    Route("/logout", views_auth.logout, methods=["POST"]),
    Route("/", views_auth.home, methods=["GET"]),
    Route("/account", views_account.account_page, methods=["GET"]),
    Route("/account", views_account.set_language, methods=["POST"]),
    Route("/list", views_list.list_page, methods=["GET"]),
    Route("/list/rows", views_list.list_rows, methods=["GET"]),
    Route("/list/print", views_list.list_print, methods=["GET"]),
    Route("/list.csv", views_list.list_csv, methods=["GET"]),
    Route("/dashboard", views_dashboard.dashboard_page, methods=["GET"]),
    Route("/dashboard/residents", views_dashboard.dashboard_residents, methods=["GET"]),
    Route("/residents/{rid:rowid}", views_resident.resident_page, methods=["GET"]),
    Route("/residents/{rid:rowid}/edit", views_resident.edit, methods=["POST"]),
    Route("/residents/{rid:rowid}/reveal", views_resident.reveal, methods=["POST"]),
    Route("/residents/{rid:rowid}/reviews", views_resident.review, methods=["POST"]),
    Route("/residents/{rid:rowid}/ack", views_resident.ack, methods=["POST"]),
    Route("/residents/{rid:rowid}/fhir.json", views_resident.fhir, methods=["GET"]),
    Route("/residents/{rid:rowid}/records/{kind}/new", views_record.record_form, methods=["GET"]),
    Route("/residents/{rid:rowid}/records/{kind}", views_record.record_save, methods=["POST"]),
    Route("/records", views_record.records_page, methods=["GET"]),
    Route("/records.csv", views_record.records_csv, methods=["GET"]),
    Route("/records.xlsx", views_record.records_xlsx, methods=["GET"]),
    Route("/records/{record_id:rowid}/print", views_record.record_print, methods=["GET"]),
    Route("/records/{record_id:rowid}/edit", views_record.record_edit_form, methods=["GET"]),
    Route("/records/{record_id:rowid}/edit", views_record.record_correct, methods=["POST"]),
    Route("/help/calls", views_help.help_calls, methods=["GET"]),
    Route("/help/{call}/ack", views_help.acknowledge, methods=["POST"]),
    Route("/admin", views_admin.admin_page, methods=["GET"]),
    Route("/admin/users", views_admin.admin_add_user, methods=["POST"]),
    Route("/admin/users/{uid:rowid}/active", views_admin.admin_set_active, methods=["POST"]),
    Route("/admin/audit", views_admin.admin_audit, methods=["GET"]),
    Route("/admin/fleet", views_fleet.fleet_page, methods=["GET"]),
    Route("/admin/fleet/{station}", views_fleet.station_page, methods=["GET"]),
    Route("/admin/fleet/{station}/commands", views_fleet.station_commands, methods=["GET"]),
    Route("/admin/fleet/{station}/commands", views_fleet.send_command, methods=["POST"]),
]
PUBLIC_PATHS = {"/healthz", "/login", "/logout"}
"""Reachable without a session (``/logout`` still needs its CSRF token)."""


async def refresh_once(hk: AppState, publish: Publish | None) -> int:
    """Follow new readings: refresh statuses, raise and deliver alerts; returns alerts raised."""
    at = hk.clock()
    late_after = timedelta(seconds=hk.settings.alert_late_after_s)

    def work() -> list[dict[str, Any]]:
        with hk.sessions.begin() as session:
            refreshed, seen = catch_up(session, rules=hk.rules, now=at, tz=hk.tz)
            fresh = [u for r in refreshed for u in r.urgent_readings if u in seen]
            return [
                alert_payload(r, raised_at=at, late_after=late_after)
                for _a, r in record_alerts(session, fresh, now=at)
            ]

    payloads = await asyncio.to_thread(work)
    for p in payloads:
        published, hook, err = await deliver(
            p, publish=publish, webhook_url=hk.settings.webhook_url
        )

        def mark(
            p: dict[str, Any] = p,
            published: bool = published,
            hook: str | None = hook,
            err: str | None = err,
        ) -> None:
            with hk.sessions.begin() as session:
                a = session.get(Alert, p["reading_uuid"])
                if a is not None:
                    a.mqtt_published_at = hk.clock() if published else None
                    a.webhook_status = hook
                    a.delivery_error = err

        await asyncio.to_thread(mark)
    return len(payloads)


def _freeze_startup_objects() -> None:
    """Leave what start-up made (modules, mappers, compiled templates: most of the heap)
    out of the garbage collector's full collections: each one scanned all of it, a pause
    of tens of milliseconds in whichever request set it off (issue 15). Objects made by
    requests are collected as before; :func:`gc.unfreeze` at shutdown gives the rest
    back (a test process starts many apps). No collection first: freezing is a move of
    lists, a collection of the whole heap is not (in the tests, where every app's start
    paid one, about 100 s of the CI's time); what start-up left as garbage stays until
    shutdown."""
    gc.freeze()


def create_app(
    engine: Engine,
    rules: RulesConfig,
    settings: WebSettings,
    *,
    publish: Publish | None = None,
    commands: Publish | None = None,
    rollouts: RolloutSource | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    run_refresher: bool = True,
) -> Starlette:
    """``publish`` delivers urgent-reading alerts; ``commands`` publishes the fleet
    page's ``hk.command/1`` (None: the page refuses to send); ``rollouts`` is
    where the fleet page reads rollouts (by default the rollout tables)."""
    hk = AppState(
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        rules=rules,
        settings=settings,
        templates=make_templates(),
        clock=clock,
    )

    async def refresher() -> None:
        while True:
            try:
                await refresh_once(hk, publish)
            except Exception:  # a bad row must not stop the list from updating
                log.exception("status refresh failed")
            try:
                await escalate_once(
                    hk.sessions,
                    settings.duty_chain,
                    webhook_url=settings.webhook_url,
                    now=hk.clock(),
                )
            except Exception:  # nor a failed escalation
                log.exception("escalation failed")
            await asyncio.sleep(settings.refresh_interval_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(refresher()) if run_refresher else None
        _freeze_startup_objects()
        try:
            yield
        finally:
            gc.unfreeze()
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = Starlette(
        routes=ROUTES,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                SessionCookies,
                secret_key=settings.secret_key,
                max_age=settings.session_max_age_s,
                https_only=settings.https_only,
            ),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, 500: server_error_page(hk)},
    )
    app.state.hk = hk
    app.state.fleet = views_fleet.FleetState(
        commands=commands,
        rollouts=rollouts or RolloutTables(),
        poll_interval_s=min(settings.poll_interval_s, 2.0),
    )
    return app
