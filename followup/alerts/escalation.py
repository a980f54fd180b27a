"""Escalation along the area's duty chain: an urgent reading (or a station's help call)
that nobody acknowledged within ``after_minutes`` goes to the next person: the
resident's responsible doctor, then the station's duty phone, then the health centre.

Each step goes through the alert webhook (an SMS gateway) as ``hk.escalation/1`` JSON,
is kept in ``escalation_steps`` (the resident's page shows them) and in the audit log.
A link with no one configured (no responsible doctor, no phone) is recorded as
``skipped`` and the next person is told at once; a step whose webhook failed counts as
taken (the chain moves on after the same wait, so an urgent reading never stalls).
The timer runs from the alert (the first step) and then from the last step taken.

What is escalated comes from *sources*: ``open_alerts`` here; another kind (a
station's help call) adds a function ``(session, since) -> [Subject]`` returning its
open, unacknowledged items raised since ``since``, and passes it in ``sources``; the
chain, the timer, the delivery and the records are the same.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from followup.alerts.urgent import post_json
from followup.db.alerts import Alert
from followup.db.audit_log import audit
from followup.db.auth import User
from followup.db.escalation import EscalationStep
from followup.db.models import Reading, Resident
from followup.db.status_store import summarise

log = logging.getLogger(__name__)

SCHEMA = "hk.escalation/1"
CHAIN = ("doctor", "station", "centre")
ACTOR = "system:escalation"


@dataclass(frozen=True, slots=True)
class DutyChain:
    """``[followup.escalation]``: the wait and who is on duty (phones for the gateway)."""

    after_minutes: float = 15.0
    doctor_phones: Mapping[str, str] = field(default_factory=dict)
    """A doctor's username → their phone."""
    station_phones: Mapping[str, str] = field(default_factory=dict)
    """A station's id → its duty phone."""
    centre_phone: str | None = None
    give_up_after_hours: float = 24.0
    """An alert older than this is not escalated any more (nor, after an upgrade,
    alerts left open long ago): the list still shows it."""

    @property
    def wait(self) -> timedelta:
        return timedelta(minutes=self.after_minutes)


@dataclass(frozen=True, slots=True)
class Subject:
    """One open (unacknowledged) thing to escalate."""

    kind: str
    ref: str
    raised_at: datetime
    resident_id: int | None
    station_id: str | None
    doctor_id: int | None
    """The responsible doctor (the chain's first link), if any."""
    summary: str = ""
    path: str = ""


Source = Callable[[Session, datetime], Iterable[Subject]]


def open_alerts(session: Session, since: datetime) -> list[Subject]:
    """Urgent-reading alerts raised since ``since`` and not yet acknowledged."""
    rows = session.execute(
        select(Alert, Reading, Resident.responsible_doctor_id)
        .join(Reading, Reading.uuid == Alert.reading_uuid)
        .join(Resident, Resident.id == Alert.resident_id)
        .where(Alert.acknowledged_at.is_(None), Alert.raised_at >= since)
        .order_by(Alert.raised_at, Alert.reading_uuid)
    )
    return [
        Subject(
            kind="alert",
            ref=a.reading_uuid,
            raised_at=a.raised_at,
            resident_id=a.resident_id,
            station_id=r.station_id,
            doctor_id=doctor,
            summary=summarise(
                r.kind,
                r.systolic_mmhg,
                r.diastolic_mmhg,
                r.glucose_mmol_per_l,
                r.meal_context,
                r.out_of_range,
                irregular_pulse=r.irregular_pulse,
                event=r.event,
            ),
            path=f"/residents/{a.resident_id}",
        )
        for a, r, doctor in rows
    ]


@dataclass(frozen=True, slots=True)
class Planned:
    subject: Subject
    step: int
    role: str
    target: str
    phone: str | None
    """None: nobody configured for this link (the step is skipped)."""
    why_skipped: str = ""


def _target(
    session: Session, s: Subject, role: str, chain: DutyChain
) -> tuple[str, str | None, str]:
    """(who, phone or None, why there is no phone)."""
    if role == "doctor":
        if s.doctor_id is None:
            return "", None, "no responsible doctor"
        u = session.get(User, s.doctor_id)
        if u is None or not u.active:
            return "", None, "the responsible doctor's account is not active"
        phone = chain.doctor_phones.get(u.username)
        return u.display_name or u.username, phone, "" if phone else f"no phone for {u.username}"
    if role == "station":
        phone = chain.station_phones.get(s.station_id or "")
        return s.station_id or "", phone, "" if phone else "no duty phone for the station"
    return "centre", chain.centre_phone, "" if chain.centre_phone else "no centre phone"


def plan(
    session: Session, subjects: Iterable[Subject], chain: DutyChain, *, now: datetime
) -> list[Planned]:
    """The steps due now: for each subject, the skipped links and then at most one to send."""
    subjects = list(subjects)
    if not subjects:
        return []
    taken: dict[tuple[str, str], list[EscalationStep]] = {}
    for st in session.scalars(
        select(EscalationStep)
        .where(EscalationStep.subject_ref.in_([s.ref for s in subjects]))
        .order_by(EscalationStep.step)
    ):
        taken.setdefault((st.subject_kind, st.subject_ref), []).append(st)
    out: list[Planned] = []
    for s in subjects:
        if now - s.raised_at > timedelta(hours=chain.give_up_after_hours):
            continue
        steps = taken.get((s.kind, s.ref), [])
        n = len(steps)
        sent = [st.at for st in steps if st.status != "skipped"]
        base = max(sent) if sent else s.raised_at
        while n < len(CHAIN) and now >= base + chain.wait:
            role = CHAIN[n]
            who, phone, why = _target(session, s, role, chain)
            n += 1
            out.append(Planned(s, n, role, who, phone, why))
            if phone is not None:
                break
    return out


def payload(p: Planned, now: datetime) -> dict[str, Any]:
    s = p.subject
    return {
        "schema": SCHEMA,
        "kind": s.kind,
        "ref": s.ref,
        "resident_id": s.resident_id,
        "station_id": s.station_id,
        "summary": s.summary,
        "raised_at": s.raised_at.isoformat(),
        "escalated_at": now.isoformat(),
        "step": p.step,
        "role": p.role,
        "to": p.phone,
        "name": p.target,
        "path": s.path,
    }


async def escalate_once(
    sessions: sessionmaker[Session],
    chain: DutyChain,
    *,
    webhook_url: str | None,
    now: datetime,
    sources: Iterable[Source] = (open_alerts,),
    timeout_s: float = 10.0,
) -> list[EscalationStep]:
    """Take every step that is due; returns the steps recorded (with their status)."""
    if not webhook_url:
        return []  # nothing to deliver through: the list and the alert topic only
    srcs = list(sources)

    def claim() -> list[tuple[Planned, int]]:
        with sessions.begin() as session:
            since = now - timedelta(hours=chain.give_up_after_hours)
            subjects = [s for src in srcs for s in src(session, since)]
            planned = plan(session, subjects, chain, now=now)
            out = []
            for p in planned:
                st = _record(session, p, now, "skipped" if p.phone is None else "sending")
                out.append((p, st.id))
            return out

    try:
        claimed = await asyncio.to_thread(claim)
    except IntegrityError:  # another process took these steps first
        return []
    for p, sid in claimed:
        if p.phone is None:
            continue
        body = json.dumps(payload(p, now), ensure_ascii=False).encode()
        try:
            code = await asyncio.wait_for(
                asyncio.to_thread(post_json, webhook_url, body, timeout_s), timeout_s + 1
            )
            status, detail = "sent", f"webhook {code}"
        except (TimeoutError, OSError, ValueError) as err:
            status, detail = "failed", f"webhook: {err!r}"
            log.warning("escalation %s step %d failed: %r", p.subject.ref, p.step, err)

        def mark(sid: int = sid, status: str = status, detail: str = detail) -> None:
            with sessions.begin() as session:
                st = session.get(EscalationStep, sid)
                if st is not None:
                    st.status, st.detail = status, detail
                    _audit(session, st, now)

        await asyncio.to_thread(mark)

    def steps() -> list[EscalationStep]:
        with sessions() as session:
            ids = [sid for _p, sid in claimed]
            return list(
                session.scalars(
                    select(EscalationStep)
                    .where(EscalationStep.id.in_(ids))
                    .order_by(EscalationStep.id)
                )
            )

    return await asyncio.to_thread(steps)


def _record(session: Session, p: Planned, now: datetime, status: str) -> EscalationStep:
    s = p.subject
    st = EscalationStep(
        subject_kind=s.kind,
        subject_ref=s.ref,
        resident_id=s.resident_id,
        station_id=s.station_id,
        step=p.step,
        role=p.role,
        target=p.target[:100],
        at=now,
        status=status,
        detail=p.why_skipped or None,
    )
    session.add(st)
    session.flush()
    if status == "skipped":
        _audit(session, st, now)
    return st


def _audit(session: Session, st: EscalationStep, now: datetime) -> None:
    audit(
        session,
        action="escalation",
        now=now,
        user_id=None,
        username=ACTOR,
        target=f"resident:{st.resident_id}" if st.resident_id else f"station:{st.station_id}",
        detail={
            "kind": st.subject_kind,
            "ref": st.subject_ref,
            "step": st.step,
            "role": st.role,
            "to": st.target,
            "status": st.status,
            "detail": st.detail or "",
        },
    )
