"""Follow-up records (随访服务记录表): the form's content, saved with the review it makes.

The columns are what lists and exports query (kind, dates, way, classification,
the blood pressure and fasting glucose written on the form); ``content`` is the
whole form as :class:`followup.record.fields.RecordContent` dumped to JSON, and
``prefill`` what the kiosk's readings proposed (and which readings).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from followup.db.base import Base
from followup.db.models import Reading
from followup.record.fields import RecordContent
from followup.record.prefill import Prefill, compute_prefill
from healthkiosk.rules import RulesConfig


class FollowUpRecord(Base):
    __tablename__ = "followup_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    doctor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), unique=True)
    """The review this record made (the resident left the list with it)."""
    kind: Mapped[str] = mapped_column(String(16))
    """hypertension or diabetes."""
    created_at: Mapped[datetime]
    visit_date: Mapped[date]
    way: Mapped[str] = mapped_column(String(8))
    classification: Mapped[str] = mapped_column(String(20))
    systolic_mmhg: Mapped[int | None]
    diastolic_mmhg: Mapped[int | None]
    fasting_glucose_mmol_per_l: Mapped[float | None]
    next_visit_on: Mapped[date]
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    prefill: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_followup_records_resident_kind_created", "resident_id", "kind", "created_at"),
        Index("ix_followup_records_visit_date", "visit_date"),
    )

    @property
    def form(self) -> RecordContent:
        return RecordContent.model_validate(self.content)


def new_record(
    *,
    resident_id: int,
    doctor_id: int,
    review_id: int,
    content: RecordContent,
    prefill: Prefill,
    now: datetime,
) -> FollowUpRecord:
    return FollowUpRecord(
        resident_id=resident_id,
        doctor_id=doctor_id,
        review_id=review_id,
        kind=content.kind,
        created_at=now,
        visit_date=content.visit_date,
        way=content.way,
        classification=content.classification,
        systolic_mmhg=content.systolic_mmhg,
        diastolic_mmhg=content.diastolic_mmhg,
        fasting_glucose_mmol_per_l=content.fasting_glucose_mmol_per_l,
        next_visit_on=content.next_visit_on,
        content=content.model_dump(mode="json"),
        prefill=prefill.as_dict(),
    )


def last_record(session: Session, resident_id: int, kind: str) -> FollowUpRecord | None:
    return session.scalars(
        select(FollowUpRecord)
        .where(FollowUpRecord.resident_id == resident_id, FollowUpRecord.kind == kind)
        .order_by(FollowUpRecord.created_at.desc(), FollowUpRecord.id.desc())
        .limit(1)
    ).first()


def period_start(
    session: Session, resident_id: int, kind: str, *, now: datetime, rules: RulesConfig
) -> tuple[datetime, datetime | None]:
    """Where the pre-fill's readings begin: the last record of this kind (its saving),
    else one follow-up interval back (``rules.followup.overdue_days``, the 规范's
    quarter). Returns (start, the last record's time or None)."""
    last = last_record(session, resident_id, kind)
    if last is not None:
        return last.created_at, last.created_at
    return now - timedelta(days=rules.followup.overdue_days), None


MAX_PREFILL_READINGS = 1000
"""A district's busiest resident measures a few times a day: a quarter fits well within."""


def load_prefill(
    session: Session,
    resident_id: int,
    kind: str,
    *,
    now: datetime,
    rules: RulesConfig,
    received_until: datetime | None = None,
) -> Prefill:
    """The kiosk's readings since the last follow-up record of ``kind``, as the form's
    pre-fill; with ``received_until`` only those that had arrived by then (what the
    doctor's form showed, when the record is saved)."""
    start, since = period_start(session, resident_id, kind, now=now, rules=rules)
    q = select(Reading).where(
        Reading.resident_id == resident_id,
        Reading.measured_at > start,
        Reading.measured_at <= now,
        Reading.kind.in_(("blood_pressure", "glucose")),
    )
    if received_until is not None:
        q = q.where(Reading.received_at <= received_until)
    readings = session.scalars(q.order_by(Reading.measured_at.desc()).limit(MAX_PREFILL_READINGS))
    return compute_prefill(list(readings), since=since)
