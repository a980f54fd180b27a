"""Retention: delivered readings go after the retention period; undelivered and
rejected ones never do; the sequence never goes back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sync.store.devices import record_device_event
from sync.store.idhash import IdHasher
from sync.store.models import DeviceEvent, OutboxEntry, Reading, Resident, Visit
from sync.store.purge import purge_delivered
from sync.store.visits import end_visit
from tests.support.store_builders import glucose, make_id, resident, save

RETENTION = timedelta(days=30)


def _save(
    factory: sessionmaker[Session],
    hasher: IdHasher,
    seq: int,
    *,
    at: datetime,
    visit: str | None = None,
) -> str:
    saved = save(factory, hasher, glucose(), who=resident(make_id(seq=seq)), measured_at=at,
                 visit_uuid=visit)  # fmt: skip
    return str(saved.uuid)


def _mark(factory: sessionmaker[Session], uuid: str, **values: object) -> None:
    with factory() as s:
        box = s.get_one(OutboxEntry, uuid)
        for k, v in values.items():
            setattr(box, k, v)
        s.commit()


def test_purge_removes_only_delivered_readings_past_retention(
    factory: sessionmaker[Session], hasher: IdHasher
) -> None:
    now = datetime.now(UTC)
    later = now + timedelta(days=60)  # the purge runs 60 days from now
    delivered_old = _save(factory, hasher, 1, at=now, visit="v-old")  # resident 1: only this
    end_visit(factory, "v-old", outcome="completed", at=now)
    delivered_recent = _save(factory, hasher, 2, at=now)
    undelivered = _save(factory, hasher, 3, at=now)
    rejected = _save(factory, hasher, 4, at=now)
    delivered_old_2 = _save(factory, hasher, 3, at=now)  # resident 3 keeps their undelivered one
    _mark(factory, delivered_old, delivered_at=now)
    _mark(factory, delivered_old_2, delivered_at=now)
    _mark(factory, delivered_recent, delivered_at=later - timedelta(days=10))
    _mark(factory, rejected, rejected_at=now, rejected_reason="schema")
    _mark(factory, undelivered, attempts=12, last_error="broker unavailable")
    record_device_event(factory, device="GM-55", kind="error_code", at=now)
    record_device_event(factory, device="GM-55", kind="error_code", at=later)

    report = purge_delivered(factory, older_than=RETENTION, now=later)

    assert (report.readings, report.visits, report.residents, report.device_events) == (2, 1, 1, 1)
    with factory() as s:
        left = set(s.scalars(select(Reading.uuid)))
        assert left == {delivered_recent, undelivered, rejected}
        assert (
            set(s.scalars(select(OutboxEntry.reading_uuid))) == left
        )  # outbox rows went with them
        hashes = set(s.scalars(select(Resident.id_hash)))
        assert hasher.hash(make_id(seq=1)) not in hashes  # nothing left of resident 1
        assert {hasher.hash(make_id(seq=n)) for n in (2, 3, 4)} <= hashes
        assert s.scalar(select(func.count()).select_from(Visit)) == 0
        assert s.scalar(select(func.count()).select_from(DeviceEvent)) == 1

    # Purging again changes nothing; an undelivered reading survives any age.
    again = purge_delivered(factory, older_than=timedelta(0), now=later + timedelta(days=3650))
    assert again.readings == 1  # only delivered_recent, now old enough
    with factory() as s:
        assert set(s.scalars(select(Reading.uuid))) == {undelivered, rejected}


def test_sequence_numbers_are_never_reused_after_a_purge(
    factory: sessionmaker[Session], hasher: IdHasher
) -> None:
    uuids = [_save(factory, hasher, n, at=datetime.now(UTC)) for n in range(3)]
    for u in uuids:
        _mark(factory, u, delivered_at=datetime.now(UTC) - timedelta(days=90))
    assert purge_delivered(factory, older_than=RETENTION).readings == 3
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Reading)) == 0
    nxt = save(factory, hasher, glucose())
    assert nxt.station_seq == 4
