"""The follow-up list: sections, filters and counts, from ``resident_status``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.orm import Session

from followup.db.alerts import Alert
from followup.db.models import Resident
from followup.db.status import ResidentStatusRow
from followup.messages import N_
from healthkiosk.rules import RulesConfig
from healthkiosk.rules.status import age_on

SECTIONS = ("urgent", "abnormal", "overdue", "overdue_long")
SECTION_TITLES = {
    "urgent": N_("Urgent — contact today"),
    "abnormal": N_("Abnormal — review"),
    "overdue": N_("Overdue"),
    "overdue_long": N_("Overdue more than a year"),
}
"""English message ids, translated where shown."""
FIELD_NAMES = {
    "station": N_("Station"),
    "kind": N_("Kind"),
    "status": N_("Status"),
    "from": N_("from"),
    "to": N_("to"),
    "doctor": N_("Responsible doctor"),
}
"""The filters' names (message ids), as the page and its errors call them."""
KINDS = ("blood_pressure", "glucose", "spo2", "temperature")
"""What can put a resident on the list (a weight, its BMI, never does)."""
STATUSES = ("urgent", "abnormal", "overdue")


def _english(message: str, **params: Any) -> str:
    return message % params if params else message


@dataclass(frozen=True, slots=True)
class ListFilters:
    station: str | None = None
    kind: str | None = None
    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    doctor: str | None = None
    """A user id, "none" for residents without a responsible doctor, "all" (or None)
    for everyone's. The page defaults to the signed-in doctor's own (views_list)."""

    @classmethod
    def from_query(
        cls, q: Mapping[str, str], gettext: Callable[..., str] = _english
    ) -> tuple[ListFilters, list[str]]:
        """The filters, and what was wrong (in words ``gettext`` translates: the page's gettext)."""
        errors: list[str] = []

        def pick(name: str, allowed: tuple[str, ...] | None = None) -> str | None:
            v = (q.get(name) or "").strip()[:63]
            if not v:
                return None
            if allowed is not None and v not in allowed:
                errors.append(
                    gettext("%(name)s: not one of the list", name=gettext(FIELD_NAMES[name]))
                )
                return None
            return v

        def day(name: str) -> date | None:
            v = (q.get(name) or "").strip()
            if not v:
                return None
            try:
                return date.fromisoformat(v)
            except ValueError:
                errors.append(
                    gettext("%(name)s: not a date (YYYY-MM-DD)", name=gettext(FIELD_NAMES[name]))
                )
                return None

        doctor = pick("doctor")
        if doctor is not None and doctor not in ("none", "all") and not doctor.isdigit():
            errors.append(gettext("doctor: unknown"))
            doctor = None
        return (
            cls(
                station=pick("station"),
                kind=pick("kind", KINDS),
                status=pick("status", STATUSES),
                date_from=day("from"),
                date_to=day("to"),
                doctor=doctor,
            ),
            errors,
        )

    def query_string(self) -> dict[str, str]:
        out = {
            "station": self.station or "",
            "kind": self.kind or "",
            "status": self.status or "",
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "doctor": self.doctor or "",
        }
        return {k: v for k, v in out.items() if v}

    def wants(self, section: str) -> bool:
        if self.status is None:
            return True
        return section.startswith(self.status)


@dataclass(frozen=True, slots=True)
class ListRow:
    section: str
    resident_id: int
    name: str
    sex: str
    age: int | None
    area: str
    phone: str
    station_id: str
    doctor_id: int | None
    trigger_summary: str
    trigger_at: datetime | None
    reason: str
    rule: str
    screening: bool
    review_due_on: date | None
    due_on: date | None
    days_overdue: int | None
    alert_raised_at: datetime | None = None
    alert_acknowledged_at: datetime | None = None
    attempts: int = 0
    """Calls not answered (未接通) since the last contact."""
    last_attempt_at: datetime | None = None

    def waiting_days(self, today: date, tz: tzinfo) -> int | None:
        """Whole days (the district's days) since the reading that put the resident on
        the list."""
        if self.trigger_at is None:
            return None
        return (today - self.trigger_at.astimezone(tz).date()).days

    def late(self, today: date) -> bool:
        """Past the review-by date (or, overdue, past the due date): shown in red."""
        due = self.review_due_on if self.section in ("urgent", "abnormal") else self.due_on
        return due is not None and due < today


@dataclass
class ListResult:
    sections: dict[str, list[ListRow]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def _section_where(
    section: str, f: ListFilters, *, today: date, rules: RulesConfig
) -> tuple[list[ColumnElement[bool]], bool]:
    """The conditions of one section under the filters, and whether they read ``residents``."""
    long_before = today - timedelta(days=rules.followup.long_overdue_days)
    S, R = ResidentStatusRow, Resident
    w: list[ColumnElement[bool]] = []
    needs_resident = False
    if section == "urgent":
        w.append(S.level == 2)
    elif section == "abnormal":
        w.append(S.level == 1)
    elif section == "overdue":
        w += [S.level == 0, S.due_on < today, S.due_on >= long_before]
    else:
        w += [S.level == 0, S.due_on < long_before]
    trig = section in ("urgent", "abnormal")
    if f.station:
        w.append(S.trigger_station_id == f.station)
    if f.kind:
        if trig:
            w.append(S.trigger_kind == f.kind)
        elif f.kind in ("spo2", "temperature"):
            w.append(false())  # no programme is overdue for these
        else:
            needs_resident = True
            w.append(
                R.hypertension_programme.is_(True)
                if f.kind == "blood_pressure"
                else R.diabetes_programme.is_(True)
            )
    if f.date_from:
        w.append(S.trigger_at >= _start(f.date_from) if trig else S.due_on >= f.date_from)
    if f.date_to:
        w.append(
            S.trigger_at < _start(f.date_to + timedelta(days=1)) if trig else S.due_on <= f.date_to
        )
    w.extend(_doctor_where(f))
    return w, needs_resident


def _doctor_where(f: ListFilters) -> list[ColumnElement[bool]]:
    """The doctor filter, on the status row's copy of the responsible doctor (an index
    range: ``ix_resident_status_doctor_*``)."""
    S = ResidentStatusRow
    if f.doctor == "none":
        return [S.doctor_id.is_(None)]
    if f.doctor and f.doctor != "all":
        return [S.doctor_id == int(f.doctor)]
    return []


def _section_query(
    section: str, f: ListFilters, *, today: date, rules: RulesConfig, columns: Any
) -> Select[Any]:
    S, R = ResidentStatusRow, Resident
    where, _ = _section_where(section, f, today=today, rules=rules)
    return select(*columns).select_from(S).join(R, R.id == S.resident_id).where(*where)


ROW_COLUMNS = (
    Resident.id,
    Resident.name,
    Resident.sex,
    Resident.birth_date,
    Resident.area,
    Resident.phone,
    Resident.responsible_doctor_id,
    ResidentStatusRow.trigger_uuid,
    ResidentStatusRow.trigger_station_id,
    ResidentStatusRow.trigger_summary,
    ResidentStatusRow.trigger_at,
    ResidentStatusRow.reason,
    ResidentStatusRow.rule,
    ResidentStatusRow.screening,
    ResidentStatusRow.review_due_on,
    ResidentStatusRow.due_on,
)
"""What a row of the list shows: these columns, not both tables' whole rows as ORM
objects (no identity map to fill for up to 400 rows a page)."""


def count_sections(
    session: Session, f: ListFilters, *, today: date, rules: RulesConfig
) -> dict[str, int]:
    """Every wanted section's count in one query (one scan of the status rows that
    are on the list at all, instead of one query per section)."""
    S, R = ResidentStatusRow, Resident
    wanted = [s for s in SECTIONS if f.wants(s)]
    if not wanted:
        return {}
    conds = {s: _section_where(s, f, today=today, rules=rules) for s in wanted}
    each = {s: and_(*w) for s, (w, _) in conds.items()}
    q = select(*(func.count().filter(c) for c in each.values())).select_from(S)
    if any(needs for _w, needs in conds.values()):
        q = q.join(R, R.id == S.resident_id)
    # Only rows on some section: urgent, abnormal or past due (the indexes serve this),
    # of the doctor asked for (each section's condition has it too).
    q = q.where(or_(S.level > 0, S.due_on < today), *_doctor_where(f))
    row = session.execute(q).one()
    return {s: int(n or 0) for s, n in zip(each, row, strict=True)}


def _start(d: date) -> datetime:
    from datetime import UTC

    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def fetch_list(
    session: Session,
    f: ListFilters,
    *,
    now: datetime,
    tz: tzinfo,
    rules: RulesConfig,
    limit: int | None = 100,
) -> ListResult:
    """The list's sections at ``now``; "today" (overdue, review by) is the district's
    day, in ``tz``."""
    today = now.astimezone(tz).date()
    result = ListResult()
    S = ResidentStatusRow
    result.counts = count_sections(session, f, today=today, rules=rules)
    triggers: dict[int, str | None] = {}
    for section in SECTIONS:
        if not f.wants(section):
            continue
        q = _section_query(section, f, today=today, rules=rules, columns=ROW_COLUMNS)
        if section in ("urgent", "abnormal"):  # the longest waiting at the top
            q = q.order_by(S.trigger_at, S.resident_id)
        else:
            q = q.order_by(S.due_on, S.resident_id)
        if limit is not None:
            q = q.limit(limit)
        rows: list[ListRow] = []
        overdue = section.startswith("overdue")
        for r in session.execute(q):
            days = (today - r.due_on).days if r.due_on and overdue else None
            if section == "urgent":
                triggers[r.id] = r.trigger_uuid
            rows.append(
                ListRow(
                    section=section,
                    resident_id=r.id,
                    name=r.name or "",
                    sex=r.sex,
                    age=age_on(r.birth_date, today),
                    area=r.area or "",
                    phone=r.phone or "",
                    station_id=r.trigger_station_id or "",
                    doctor_id=r.responsible_doctor_id,
                    trigger_summary=r.trigger_summary or "",
                    trigger_at=r.trigger_at,
                    reason=r.reason or "",
                    rule=r.rule or "",
                    screening=r.screening,
                    review_due_on=r.review_due_on,
                    due_on=r.due_on,
                    days_overdue=days,
                )
            )
        result.sections[section] = rows
    _with_attempts(session, result)
    uuids = sorted({u for u in triggers.values() if u is not None})
    if uuids:
        alerts = {
            a.reading_uuid: a
            for a in session.scalars(select(Alert).where(Alert.reading_uuid.in_(uuids)))
        }
        result.sections["urgent"] = [
            _with_alert(row, a)
            if (a := alerts.get(triggers.get(row.resident_id) or "")) is not None
            else row
            for row in result.sections["urgent"]
        ]
    return result


def _with_attempts(session: Session, result: ListResult) -> None:
    """Each row's calls not answered since the resident's last contact (one query)."""
    from dataclasses import replace

    from followup.db.reviews import NO_ANSWER, Review
    from followup.web.dashboard_facts import among

    ids = {r.resident_id for rows in result.sections.values() for r in rows}
    if not ids:
        return
    trail: dict[int, list[datetime]] = {}
    for rid, outcome, at in session.execute(
        select(Review.resident_id, Review.outcome, Review.created_at)
        .where(among(session, Review.resident_id, ids))
        .order_by(Review.resident_id, Review.created_at, Review.id)
    ):
        if outcome == NO_ANSWER:
            trail.setdefault(rid, []).append(at)
        else:
            trail.pop(rid, None)  # a contact: the count starts again
    for section, rows in result.sections.items():
        result.sections[section] = [
            replace(r, attempts=len(trail[r.resident_id]), last_attempt_at=trail[r.resident_id][-1])
            if r.resident_id in trail
            else r
            for r in rows
        ]


def _with_alert(row: ListRow, a: Alert) -> ListRow:
    from dataclasses import replace

    return replace(row, alert_raised_at=a.raised_at, alert_acknowledged_at=a.acknowledged_at)
