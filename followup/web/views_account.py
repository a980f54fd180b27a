"""The signed-in account's own page: who is signed in, and the pages' language."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from followup.db.audit_log import audit
from followup.db.auth import User
from followup.web.common import db, error, flash, now, remote, render, require
from followup.web.i18n import LANGUAGE_NAMES, LANGUAGES

BROWSER = "browser"
"""The language choice "as the browser says" (stored as NULL)."""


@require("doctor", "admin")
async def account_page(request: Request) -> Response:
    return render(request, "account.html", {"languages": LANGUAGE_NAMES, "browser_choice": BROWSER})


@require("doctor", "admin")
async def set_language(request: Request) -> Response:
    form = await request.form()
    choice = str(form.get("language") or "")
    if choice != BROWSER and choice not in LANGUAGES:
        return error(request, 400, "Choose a language from the list.")
    user = request.state.user
    at = now(request)
    language = None if choice == BROWSER else choice

    def work(session: Session) -> bool:
        u = session.get(User, user.id)
        if u is None:
            return False
        u.language = language
        audit(
            session,
            action="account_language",
            now=at,
            user_id=user.id,
            username=user.username,
            target=f"user:{user.id}",
            detail={"language": language},
            remote=remote(request),
        )
        return True

    if not await db(request, work):
        return error(request, 404, "No such account.")
    # The next page speaks the new language, and so does this message.
    from dataclasses import replace

    request.state.user = replace(user, language=language)
    flash(request, "Language saved.")
    return RedirectResponse("/account", status_code=303)
