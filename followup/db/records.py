"""Follow-up records (随访服务记录表): the form's content, saved with the review it makes,
and every version of it (a saved record can be corrected).

The columns are what lists and exports query (kind, dates, way, classification,
the blood pressure and fasting glucose written on the form); ``content`` is the
whole form as :class:`followup.record.fields.RecordContent` dumped to JSON (its
current version), and ``prefill`` what the kiosk's readings proposed (and which
readings). ``followup_record_versions`` keeps every version ever saved, the first
one included: who saved it, when, and which fields it changed. Versions are only
ever added (:func:`new_record` makes the first, :func:`correct_record` each next).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    CursorResult,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from followup.db.base import Base
from followup.db.models import Reading
from followup.db.reviews import Review
from followup.record.fields import RecordContent, changed_fields
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
    """The current version's form."""
    prefill: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(default=1, server_default=text("1"))
    """The current version's number (1: never corrected)."""
    updated_at: Mapped[datetime | None]
    """When the current version was saved, if it is a correction (None: never corrected)."""
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    """Who saved the current version, if it is a correction."""
    versions: Mapped[list[FollowUpRecordVersion]] = relationship(
        lazy="raise", order_by="FollowUpRecordVersion.version"
    )
    """(Only to save the first version with the record: read them with :func:`versions_of`.)"""

    __table_args__ = (
        Index("ix_followup_records_resident_kind_created", "resident_id", "kind", "created_at"),
        Index("ix_followup_records_visit_date", "visit_date"),
    )

    @property
    def form(self) -> RecordContent:
        return RecordContent.model_validate(self.content)

    @property
    def corrected(self) -> bool:
        return self.version > 1


class FollowUpRecordVersion(Base):
    """One saved version of a record: what the form said, who saved it, when, and
    which fields it changed from the version before (none for the first)."""

    __tablename__ = "followup_record_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("followup_records.id"))
    version: Mapped[int]
    saved_at: Mapped[datetime]
    saved_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """The fields this version changed (the names of :data:`followup.record.fields.LABELS`)."""

    __table_args__ = (
        UniqueConstraint("record_id", "version", name="uq_followup_record_versions_record_version"),
    )

    @property
    def form(self) -> RecordContent:
        return RecordContent.model_validate(self.content)


WAY_TO_METHOD = {"clinic": "clinic", "home": "visit", "phone": "phone"}
"""随访方式 → the review's method."""


class StaleRecord(Exception):
    """The record was corrected by someone else since the form was opened."""

    def __init__(self, record_id: int, *, expected: int, current: int) -> None:
        super().__init__(f"record {record_id} is at version {current}, not {expected}")
        self.record_id = record_id
        self.expected = expected
        self.current = current


def _columns(content: RecordContent) -> dict[str, Any]:
    """The record's queried columns, as the form ``content`` says."""
    return {
        "visit_date": content.visit_date,
        "way": content.way,
        "classification": content.classification,
        "systolic_mmhg": content.systolic_mmhg,
        "diastolic_mmhg": content.diastolic_mmhg,
        "fasting_glucose_mmol_per_l": content.fasting_glucose_mmol_per_l,
        "next_visit_on": content.next_visit_on,
        "content": content.model_dump(mode="json"),
    }


def new_record(
    *,
    resident_id: int,
    doctor_id: int,
    review_id: int,
    content: RecordContent,
    prefill: Prefill,
    now: datetime,
) -> FollowUpRecord:
    """A new record (to add to the session) with its first version."""
    columns = _columns(content)
    return FollowUpRecord(
        resident_id=resident_id,
        doctor_id=doctor_id,
        review_id=review_id,
        kind=content.kind,
        created_at=now,
        prefill=prefill.as_dict(),
        version=1,
        versions=[
            FollowUpRecordVersion(
                version=1, saved_at=now, saved_by=doctor_id, content=columns["content"], changed=[]
            )
        ],
        **columns,
    )


def correct_record(
    session: Session,
    rec: FollowUpRecord,
    content: RecordContent,
    *,
    user_id: int,
    now: datetime,
    expected_version: int,
) -> list[str]:
    """Save ``content`` as the record's next version (the one way a saved record is
    changed): the record's columns follow it, the earlier versions stay, and the
    review the record made takes its next visit, way and remarks (the list's due date
    follows the corrected form). Returns the fields changed; none: nothing is saved.

    Raises :class:`StaleRecord` when the record is no longer at ``expected_version``
    (someone saved a correction since the form was opened), also when two corrections
    race: the version is compared and raised in one ``UPDATE``."""
    if content.kind != rec.kind:
        raise ValueError(f"a {content.kind} form for a {rec.kind} record")
    if rec.version != expected_version:
        raise StaleRecord(rec.id, expected=expected_version, current=rec.version)
    changed = changed_fields(rec.form, content)
    if not changed:
        return []
    columns = _columns(content)
    done: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(FollowUpRecord)
        .where(FollowUpRecord.id == rec.id, FollowUpRecord.version == expected_version)
        .values(version=expected_version + 1, updated_at=now, updated_by=user_id, **columns)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        session.expire(rec)
        raise StaleRecord(rec.id, expected=expected_version, current=rec.version)
    session.add(
        FollowUpRecordVersion(
            record_id=rec.id,
            version=expected_version + 1,
            saved_at=now,
            saved_by=user_id,
            content=columns["content"],
            changed=changed,
        )
    )
    review = session.get(Review, rec.review_id)
    if review is not None:
        review.next_follow_up_on = content.next_visit_on
        review.method = WAY_TO_METHOD[content.way]
        review.note = content.remarks
    session.flush()
    session.refresh(rec)
    return changed


def versions_of(session: Session, record_id: int) -> list[FollowUpRecordVersion]:
    """Every saved version of a record, the first first."""
    return list(
        session.scalars(
            select(FollowUpRecordVersion)
            .where(FollowUpRecordVersion.record_id == record_id)
            .order_by(FollowUpRecordVersion.version)
        )
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
