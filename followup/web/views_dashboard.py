"""The dashboard: the year's work per doctor and per area, by month, and the residents
behind each figure (docs/clinical.md, "Dashboard")."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from followup.db.auth import User
from followup.db.models import Resident
from followup.messages import N_
from followup.web.chart import Series, monthly_svg
from followup.web.common import db, error, lang, now, render, require, state
from followup.web.dashboard import FIGURES, Dashboard, Scope, compute
from followup.web.i18n import Lang
from healthkiosk.rules.status import age_on

MAX_RESIDENTS_SHOWN = 500
AREAS = text(
    "WITH RECURSIVE a(area) AS ("
    " SELECT min(area) FROM residents"
    " UNION ALL SELECT (SELECT min(area) FROM residents WHERE area > a.area)"
    " FROM a WHERE a.area IS NOT NULL"
    ") SELECT area FROM a WHERE area IS NOT NULL"
)
"""Every area residents have, in order: one probe of ``ix_residents_area`` per area
(SQLite and PostgreSQL alike), not a scan of every resident's (``DISTINCT``)."""
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FIGURE_TITLES = {
    "managed": N_("Under management"),
    "managed_hypertension": N_("Hypertension management"),
    "managed_diabetes": N_("Diabetes management"),
    "followup_overdue": N_("Follow-up overdue"),
    "followup_due": N_("Follow-up due this quarter"),
    "followup_on_track": N_("Follow-ups on track"),
    "followup_done": N_("This year's follow-ups all done"),
    "bp_controlled": N_("Blood pressure controlled"),
    "bp_uncontrolled": N_("Blood pressure not controlled"),
    "bp_no_reading": N_("No blood pressure reading this year"),
    "glucose_controlled": N_("Fasting glucose controlled"),
    "glucose_uncontrolled": N_("Fasting glucose not controlled"),
    "glucose_no_reading": N_("No fasting glucose this year"),
    "urgent": N_("Residents with urgent readings"),
    "urgent_open": N_("Urgent readings not acknowledged"),
    "lost": N_("Lost to follow-up (12 months)"),
}
STATE_NAMES = {
    "overdue": N_("overdue"),
    "due": N_("due"),
    "on_track": N_("on track"),
    "done": N_("done for the year"),
}


def _lookups(session: Session) -> dict[str, Any]:
    doctors = [
        (u.id, u.display_name or u.username)
        for u in session.scalars(select(User).where(User.role == "doctor").order_by(User.username))
    ]
    areas = [a for a in session.scalars(AREAS) if a]
    return {"doctors": doctors, "areas": areas}


async def _compute(request: Request, figure: str | None = None) -> tuple[Dashboard, dict[str, Any]]:
    st = state(request)
    at = now(request)
    user = request.state.user
    scope = Scope.from_query(request.query_params, default_doctor=user.id)

    def work(session: Session) -> tuple[Dashboard, dict[str, Any]]:
        d = compute(session, scope, now=at, tz=st.tz, rules=st.rules, figure=figure)
        return d, _lookups(session)

    return await db(request, work)


def _charts(d: Dashboard, words: Lang) -> dict[str, str]:
    months = [f"{m.month}月" if words.zh else MONTHS_EN[m.month - 1] for m in d.months]

    def pct(n: int, of: int) -> float | None:
        return None if of == 0 else round(100 * n / of, 1)

    return {
        "followups": monthly_svg(
            words.gettext("Follow-ups done against due"),
            months,
            [
                Series(words.gettext("done"), "#1d7a46", [m.followups_done for m in d.months]),
                Series(words.gettext("due"), "#b00020", [m.followups_due for m in d.months]),
            ],
            words.gettext("follow-ups"),
        ),
        "control": monthly_svg(
            words.gettext("Control rates"),
            months,
            [
                Series(
                    words.gettext("blood pressure"),
                    "#b00020",
                    [pct(m.bp_controlled, m.managed_hypertension) for m in d.months],
                ),
                Series(
                    words.gettext("fasting glucose"),
                    "#1d4ed8",
                    [pct(m.glucose_controlled, m.managed_diabetes) for m in d.months],
                ),
            ],
            "%",
        ),
        "urgent": monthly_svg(
            words.gettext("Urgent readings"),
            months,
            [
                Series(
                    words.gettext("urgent readings"), "#c77700", [m.urgent for m in d.months], True
                )
            ],
            words.gettext("readings"),
        ),
    }


@require("doctor")
async def dashboard_page(request: Request) -> Response:
    d, lookups = await _compute(request)
    words = lang(request)
    return render(
        request,
        "dashboard.html",
        {
            "d": d,
            "scope": d.scope,
            "query": d.scope.query_string(),
            "titles": FIGURE_TITLES,
            "charts": _charts(d, words),
            "doctor_names": dict(lookups["doctors"]),
            "fu": state(request).rules.followup,
            **lookups,
        },
    )


@require("doctor")
async def dashboard_residents(request: Request) -> Response:
    figure = request.query_params.get("figure", "")
    if figure not in FIGURES:
        return error(request, 404, "No such figure.")
    d, lookups = await _compute(request, figure)
    ids = sorted(d.residents.get(figure, set()))

    def work(session: Session) -> list[Row[Any]]:
        shown = ids[:MAX_RESIDENTS_SHOWN]
        if not shown:
            return []
        R = Resident  # what the page shows of each, not whole rows as ORM objects
        q = select(
            R.id, R.name, R.id_masked, R.birth_date, R.area, R.phone, R.responsible_doctor_id
        )
        return list(session.execute(q.where(R.id.in_(shown)).order_by(R.id)))

    residents = await db(request, work)
    words = lang(request)
    return render(
        request,
        "dashboard_residents.html",
        {
            "d": d,
            "figure": figure,
            "title": FIGURE_TITLES[figure],
            "residents": residents,
            "total": len(ids),
            "ages": {r.id: age_on(r.birth_date, d.today) for r in residents},
            "state_words": {k: words.gettext(v) for k, v in STATE_NAMES.items()},
            "query": d.scope.query_string(),
            "doctor_names": dict(lookups["doctors"]),
        },
    )
