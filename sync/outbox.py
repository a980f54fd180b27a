"""The kiosk's outbox: which readings still wait for the doctor's side's receipt.

Synchronous SQLAlchemy (the link calls it through ``asyncio.to_thread``).
A row leaves the outbox (``delivered_at`` set) only on a receipt naming its
UUID; a rejection is kept with its reason and never resent; delivered rows are
purged after the retention period, undelivered ones never.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day

from pydantic import ValidationError
from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from healthkiosk.dbtypes import UtcDateTime
from sync.schema import ReadingMessage, encode
from sync.store.models import Meta, OutboxEntry, Reading
from sync.store.wire import to_message

BOOT_KEY = "sync.boot"

# The receipt path runs for every batch: plain statements, the UUIDs as one JSON
# array parameter (compiled once, index lookups by primary key).
_ATTEMPTS = text(
    "UPDATE outbox SET attempts = attempts + :n, last_attempt_at = :at"
    " WHERE reading_uuid IN (SELECT value FROM json_each(:ids))"
).bindparams(bindparam("at", type_=UtcDateTime()))
_DELIVERED = text(
    "UPDATE outbox SET delivered_at = :at, last_error = NULL"
    " WHERE reading_uuid IN (SELECT value FROM json_each(:ids))"
    " AND coalesce(delivered_at, rejected_at) IS NULL"
).bindparams(bindparam("at", type_=UtcDateTime()))
_REJECTED = text(
    "UPDATE outbox SET rejected_at = :at, rejected_reason = :reason"
    " WHERE reading_uuid = :uuid AND coalesce(delivered_at, rejected_at) IS NULL"
).bindparams(bindparam("at", type_=UtcDateTime()))
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pending:
    uuid: str
    station_seq: int
    message: ReadingMessage

    @property
    def payload(self) -> bytes:
        return encode(self.message)


@dataclass(frozen=True, slots=True)
class OutboxSummary:
    backlog: int
    oldest_undelivered: datetime | None
    rejected: int
    delivered: int


class Outbox:
    def __init__(self, sessions: sessionmaker[Session], *, station_id: str) -> None:
        self._sessions = sessions
        self.station_id = station_id

    def next_boot(self) -> int:
        """A number that grows with every start of the sync process (persisted):
        orders status messages across restarts whatever the clock says."""
        with self._sessions.begin() as s:
            row = s.get(Meta, BOOT_KEY)
            n = int(row.value) + 1 if row is not None else 1
            if row is None:
                s.add(Meta(key=BOOT_KEY, value=str(n)))
            else:
                row.value = str(n)
        return n

    def _pending_query(self) -> select:  # type: ignore[valid-type]
        return (
            select(Reading)
            .join(OutboxEntry, OutboxEntry.reading_uuid == Reading.uuid)
            # One expression, not two column tests: the pending index must not be
            # used here, so SQLite walks readings by station_seq (no sort of
            # the whole backlog for each page).
            .where(func.coalesce(OutboxEntry.delivered_at, OutboxEntry.rejected_at).is_(None))
        )

    def fetch_after(self, after_seq: int, limit: int) -> list[Pending]:
        """Undelivered readings with ``station_seq > after_seq``, in order."""
        q = self._pending_query().where(Reading.station_seq > after_seq)  # type: ignore[attr-defined]
        q = q.order_by(Reading.station_seq).limit(limit)
        with self._sessions() as s:
            rows = s.scalars(q).unique().all()
        return self._build(rows)

    def fetch_uuids(self, uuids: Sequence[str]) -> list[Pending]:
        """Those of ``uuids`` still undelivered, in order."""
        if not uuids:
            return []
        q = self._pending_query().where(Reading.uuid.in_(list(uuids)))  # type: ignore[attr-defined]
        with self._sessions() as s:
            rows = s.scalars(q.order_by(Reading.station_seq)).unique().all()
        return self._build(rows)

    def _build(self, rows: Sequence[Reading]) -> list[Pending]:
        """Messages for ``rows``; a row that cannot become a valid message (a bug
        or a corrupted row) is marked rejected here, with the reason, so it is
        kept and shown, never sent, and never blocks the rows behind it."""
        out: list[Pending] = []
        bad: list[tuple[str, str]] = []
        for r in rows:
            try:
                msg = to_message(r, self.station_id)
            except (ValidationError, ValueError) as err:
                bad.append((r.uuid, f"invalid locally: {str(err).splitlines()[0][:150]}"))
                continue
            out.append(Pending(uuid=r.uuid, station_seq=r.station_seq, message=msg))
        if bad:
            log.error("%d reading(s) cannot be sent and were marked rejected", len(bad))
            self.mark_rejected(bad, at=datetime.now(UTC))
        return out

    def record_attempt(
        self, uuids: Iterable[str], *, at: datetime, error: str | None = None
    ) -> None:
        ids = list(uuids)
        if not ids:
            return
        with self._sessions.begin() as s:
            s.execute(
                update(OutboxEntry)
                .where(OutboxEntry.reading_uuid.in_(ids))
                .values(attempts=OutboxEntry.attempts + 1, last_attempt_at=at, last_error=error)
            )

    def mark_rejected(self, rejections: Iterable[tuple[str, str]], *, at: datetime) -> int:
        n = 0
        with self._sessions.begin() as s:
            for uuid, reason in rejections:
                res = s.execute(
                    update(OutboxEntry)
                    .where(
                        OutboxEntry.reading_uuid == uuid,
                        OutboxEntry.delivered_at.is_(None),
                        OutboxEntry.rejected_at.is_(None),
                    )
                    .values(rejected_at=at, rejected_reason=reason)
                )
                n += int(res.rowcount)  # type: ignore[attr-defined]
        return n

    def apply_receipt(
        self,
        accepted: Sequence[str],
        rejected: Sequence[tuple[str, str]],
        *,
        attempted: Sequence[str] = (),
        at: datetime,
    ) -> tuple[int, int]:
        """One transaction: count send attempts, mark delivered, mark rejected.
        Returns (newly delivered, newly rejected)."""
        delivered = n_rej = 0
        with self._sessions.begin() as s:
            counts: dict[str, int] = {}
            for u in attempted:
                counts[u] = counts.get(u, 0) + 1
            by_n: dict[int, list[str]] = {}
            for u, n in counts.items():
                by_n.setdefault(n, []).append(u)
            for n, ids in by_n.items():
                s.execute(_ATTEMPTS, {"n": n, "at": at, "ids": json.dumps(ids)})
            if accepted:
                res = s.execute(_DELIVERED, {"at": at, "ids": json.dumps(list(accepted))})
                delivered = int(res.rowcount)  # type: ignore[attr-defined]
            for uuid, reason in rejected:
                res = s.execute(_REJECTED, {"at": at, "uuid": uuid, "reason": reason})
                n_rej += int(res.rowcount)  # type: ignore[attr-defined]
        return delivered, n_rej

    def summary(self) -> OutboxSummary:
        with self._sessions() as s:
            undelivered = (OutboxEntry.delivered_at.is_(None), OutboxEntry.rejected_at.is_(None))
            backlog, oldest_seq = s.execute(
                select(func.count(), func.min(Reading.station_seq))
                .select_from(OutboxEntry)
                .join(Reading, Reading.uuid == OutboxEntry.reading_uuid)
                .where(*undelivered)
            ).one()
            oldest = None
            if oldest_seq is not None:
                oldest = s.scalar(
                    select(Reading.measured_at).where(Reading.station_seq == oldest_seq)
                )
            rejected = s.scalar(
                select(func.count())
                .select_from(OutboxEntry)
                .where(OutboxEntry.rejected_at.is_not(None))
            )
            delivered = s.scalar(
                select(func.count())
                .select_from(OutboxEntry)
                .where(OutboxEntry.delivered_at.is_not(None))
            )
        return OutboxSummary(
            backlog=int(backlog),
            oldest_undelivered=oldest,
            rejected=int(rejected or 0),
            delivered=int(delivered or 0),
        )

    def day_counts(self, *, now: datetime, retention_days: int) -> list[tuple[date, int, int]]:
        """Per complete day (UTC, by the reading's own time) that the store still
        holds in full: (day, readings held, readings acknowledged by the doctor's
        side). A reading made on such a day was delivered after its start, so
        :meth:`purge_delivered` (by delivery time) has removed none of them."""
        today = now.astimezone(UTC).date()
        first = today - timedelta(days=max(retention_days - 1, 0))
        start = datetime.combine(first, time_of_day.min, tzinfo=UTC)
        end = datetime.combine(today, time_of_day.min, tzinfo=UTC)
        held: dict[date, int] = {}
        acked: dict[date, int] = {}
        with self._sessions() as s:
            rows = s.execute(
                select(Reading.measured_at, OutboxEntry.delivered_at)
                .outerjoin(OutboxEntry, OutboxEntry.reading_uuid == Reading.uuid)
                .where(Reading.measured_at >= start, Reading.measured_at < end)
            )
            for measured, delivered in rows:
                day = _utc(measured).date()
                held[day] = held.get(day, 0) + 1
                acked[day] = acked.get(day, 0) + (delivered is not None)
        return [(d, held[d], acked[d]) for d in sorted(held)]

    def rejected_rows(self, limit: int = 20) -> list[tuple[str, str, datetime | None]]:
        with self._sessions() as s:
            rows = s.execute(
                select(
                    OutboxEntry.reading_uuid, OutboxEntry.rejected_reason, OutboxEntry.rejected_at
                )
                .where(OutboxEntry.rejected_at.is_not(None))
                .order_by(OutboxEntry.rejected_at.desc())
                .limit(limit)
            ).all()
        return [(u, r or "", t) for u, r, t in rows]

    def purge_delivered(self, *, now: datetime, retention_days: int) -> int:
        """Delete readings delivered more than ``retention_days`` ago (their
        outbox rows go with them). Undelivered or rejected rows are never purged."""
        cutoff = now - timedelta(days=retention_days)
        n = 0
        with self._sessions.begin() as s:
            old = list(
                s.scalars(
                    select(OutboxEntry.reading_uuid).where(
                        OutboxEntry.delivered_at.is_not(None), OutboxEntry.delivered_at < cutoff
                    )
                )
            )
            for i in range(0, len(old), 500):
                chunk = old[i : i + 500]
                s.execute(delete(OutboxEntry).where(OutboxEntry.reading_uuid.in_(chunk)))
                res = s.execute(delete(Reading).where(Reading.uuid.in_(chunk)))
                n += int(res.rowcount)  # type: ignore[attr-defined]
        return n


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
