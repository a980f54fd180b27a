"""The doctor's side MQTT ingest worker (``healthkiosk followup ingest``).

Subscribes to ``$share/<group>/hk/v1/st/+/readings`` (an MQTT v5 shared
subscription: several workers share the load) with a persistent session
(fixed client id, clean start off, session expiry) so nothing published while
a worker is down is lost, and to ``hk/v1/st/+/status`` (not shared: retained
statuses are not delivered to shared subscriptions), and likewise to the
stations' daily counts (:mod:`followup.ingest.counts`) and fleet reports
(config, update and command results; stored by :mod:`followup.fleet.reports`).

For each batch of messages at hand: check (schema, station in topic = station
in payload), store everything in one transaction, then publish the receipts
(``hk.receipt/1``: accepted UUIDs, including duplicates, and rejected ones
with their reason), then acknowledge the MQTT messages. A worker killed before
its commit leaves the messages unacknowledged: the broker delivers them again.

No payload stops the worker (issue 19): whatever one message makes fail
(validation, the database refusing a value, arithmetic), that message alone is
dead-lettered with the reason and acknowledged, and the others are stored. An
operational error (a deadlock) is tried again first; only a database that is
down (it takes no write transaction) leaves the messages unacknowledged: the
worker reconnects and gets them again.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from followup.fleet.reports import FILTERS as FLEET_FILTERS
from followup.fleet.reports import FleetIngest, is_fleet_topic
from followup.ingest import counts
from followup.ingest.check import Checked, Rejection, check_readings, check_status, station_of
from followup.ingest.store import DeadLetterIn, IngestStore
from healthkiosk import signals
from healthkiosk.config import Config
from healthkiosk.errors import (
    BrokerUnavailableError,
    PublishRefusedError,
    SubscribeRefusedError,
    SyncTimeoutError,
)
from healthkiosk.mqtt import Backoff, Connection, Message, connect, settings_from
from healthkiosk.rules import load_rules
from healthkiosk.sdnotify import Notifier
from sync.schema import Receipt, encode, topic
from sync.schema import Rejection as WireRejection

log = logging.getLogger(__name__)

MAX_MESSAGES_PER_TRANSACTION = 200
"""Messages stored per transaction: fewer commits (each waits for the disk) under load."""
TRANSIENT_ATTEMPTS = 3
"""Tries of a store that failed with an operational error while the database answers."""
RECEIVE_MAXIMUM = 400
"""Unacknowledged messages the broker may push: a full batch in hand and the next arriving."""


class IngestWorker:
    def __init__(
        self,
        cfg: Config,
        engine: Engine,
        *,
        key: bytes,
        client_id: str | None = None,
        group: str | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.cfg = cfg
        self.store = IngestStore(
            engine,
            key=key,
            rules=load_rules(cfg.rules),
            tz=ZoneInfo(cfg.followup.timezone),
            max_ahead=timedelta(seconds=cfg.followup.max_clock_ahead_s),
        )
        self.fleet = FleetIngest(engine)
        self._online: dict[str, bool] = {}
        self.client_id = client_id or cfg.followup.ingest_client_id
        self.group = group or cfg.followup.resolved_ingest_group()
        self.notifier = notifier or Notifier()
        self.max_bytes = cfg.followup.max_payload_bytes
        m = cfg.followup.mqtt
        self.backoff = Backoff(m.reconnect_min_s, m.reconnect_max_s)
        self.stored = 0
        self.rejected = 0

    @property
    def readings_filter(self) -> str:
        return f"$share/{self.group}/hk/v1/st/+/readings"

    async def run(self) -> None:
        # Signed in as the worker's own account (username = client id) when
        # [followup] mqtt_accounts_dir is set; see docs/security.md.
        settings = settings_from(
            self.cfg.followup.account_mqtt(self.client_id),
            client_id=self.client_id,
            receive_maximum=RECEIVE_MAXIMUM,
        )
        self.notifier.ready()
        while True:
            try:
                async with connect(settings) as conn:
                    # Subscribed again on every connection, resumed session or not:
                    # Mosquitto 2.0.11 does not deliver new messages to a durable
                    # $share subscription restored from its persistence (fixed in 2.0.12).
                    await conn.subscribe(
                        [
                            (self.readings_filter, 1),
                            ("hk/v1/st/+/status", 1),
                            (counts.TOPIC_FILTER, 1),
                            *((f, 1) for f in FLEET_FILTERS),
                        ],
                        timeout=10.0,
                    )
                    self.backoff.reset()
                    log.info(
                        "ingest %s connected (session present: %s)",
                        self.client_id,
                        conn.session_present,
                    )
                    self.notifier.status(f"connected as {self.client_id}")
                    await self._consume(conn)
            except (BrokerUnavailableError, SyncTimeoutError, SubscribeRefusedError) as err:
                log.warning("ingest link: %s", err)
            except OperationalError as err:
                # The database failed for a moment (deadlock, restart, lost
                # connection): nothing was acknowledged, so reconnecting gets
                # the same messages again from our persistent session.
                log.error("database error, reconnecting: %s", str(err).splitlines()[0])
            except Exception:
                # Never for one message (handle() dead-letters each failure);
                # a fault of our own: reconnect rather than stop the ingest.
                log.exception("ingest failed, reconnecting")
            self.notifier.status("disconnected")
            await asyncio.sleep(self.backoff.next_delay())

    async def _consume(self, conn: Connection) -> None:
        while True:
            first = await conn.next_message(timeout=3600.0 * 24)
            batch = [first, *conn.drain(MAX_MESSAGES_PER_TRANSACTION - 1)]
            await self.handle(conn, batch)

    async def handle(self, conn: Connection, batch: list[Message]) -> None:
        now = datetime.now(UTC)
        statuses = [m for m in batch if m.topic.endswith("/status")]
        fleet = [m for m in batch if is_fleet_topic(m.topic)]
        day_counts = [m for m in batch if counts.is_counts_topic(m.topic)]
        readings = [
            m
            for m in batch
            if not m.topic.endswith("/status")
            and not is_fleet_topic(m.topic)
            and not counts.is_counts_topic(m.topic)
        ]
        if readings:
            await self._readings(conn, readings, now)
        for m in statuses:
            await self._isolated(m, now, self._status(m, now))
        for m in fleet:
            await self._isolated(
                m, now, asyncio.to_thread(self.fleet.handle_one, m.topic, m.payload, now)
            )
        for m in day_counts:
            await self._isolated(m, now, self._counts(m, now))
        for m in batch:
            conn.ack(m)

    async def _counts(self, m: Message, now: datetime) -> None:
        result = counts.check_counts(m.topic, m.payload)
        if result is None:
            return
        if isinstance(result, str):
            letter = DeadLetterIn(m.topic, station_in(m.topic), result, m.payload)
            await asyncio.to_thread(self.store.store, [], [letter], received_at=now)
            return
        differ = await asyncio.to_thread(counts.compare, self.store.engine, result, received_at=now)
        for d in differ:
            log.warning(
                "station %s, %s: holds %d, acknowledged %d, stored here %d",
                d.station_id,
                d.day,
                d.held,
                d.acknowledged,
                d.stored,
            )

    async def _isolated(self, m: Message, now: datetime, work: Awaitable[object]) -> None:
        """Await ``work`` for one message; any failure of its own dead-letters it."""
        try:
            await work
        except Exception as err:
            await self._dead_letter_failure(m, now, err)

    async def _dead_letter_failure(self, m: Message, now: datetime, err: Exception) -> str:
        """Dead-letter ``m`` for ``err`` (re-raised when the database itself is down)."""
        if isinstance(err, OperationalError) and not await asyncio.to_thread(self._db_alive):
            raise err
        reason = failure_reason(err)
        log.error("message on %s dead-lettered: %s", m.topic[:100], reason)
        letter = DeadLetterIn(m.topic, station_in(m.topic), reason, m.payload)
        await asyncio.to_thread(self.store.store, [], [letter], received_at=now)
        self.rejected += 1
        return reason

    def _db_alive(self) -> bool:
        """The database answers and takes a write transaction (on SQLite ``BEGIN
        IMMEDIATE`` takes the write lock: a locked file is not "alive")."""
        try:
            with self.store.engine.begin() as c:
                c.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def _readings(
        self, conn: Connection, msgs: list[Message], now: datetime, *, attempt: int = 1
    ) -> None:
        checked: list[tuple[Message, Checked]] = [
            (m, check_readings(m.topic, m.payload, max_bytes=self.max_bytes)) for m in msgs
        ]
        good = [r for _m, c in checked for r in c.readings]
        dead = [
            DeadLetterIn(
                topic=m.topic,
                station_id=c.station_id,
                reason="; ".join(sorted({r.reason for r in c.rejections}))[:2000],
                payload=m.payload,
            )
            for m, c in checked
            if c.rejections
        ]
        try:
            await asyncio.to_thread(self.store.store, good, dead, received_at=now)
        except Exception as err:
            # Committed nothing: one message at a time, so one poison message
            # (a value the database refuses, a date that overflows) cannot
            # block the others.
            if isinstance(err, OperationalError):
                if not await asyncio.to_thread(self._db_alive):
                    raise
                if attempt < TRANSIENT_ATTEMPTS:
                    # A deadlock or a serialisation failure between workers: the
                    # same messages again, never a good reading refused for it.
                    await asyncio.sleep(0.1 * attempt)
                    await self._readings(conn, msgs, now, attempt=attempt + 1)
                    return
            if len(msgs) > 1:
                for m in msgs:
                    await self._readings(conn, [m], now)
                return
            m, c = checked[0]
            reason = await self._dead_letter_failure(m, now, err)
            c = Checked(
                c.station_id,
                rejections=[*c.rejections, *(Rejection(reason, str(r.uuid)) for r in c.readings)],
            )
            checked = [(m, c)]
            good = []
        self.stored += len(good)
        # Receipts only after the commit, one per station.
        accepted: dict[str, list[UUID]] = defaultdict(list)
        rejected: dict[str, list[WireRejection]] = defaultdict(list)
        for _m, c in checked:
            if c.station_id is None:
                continue
            accepted[c.station_id].extend(r.uuid for r in c.readings)
            for rej in c.rejections:
                self.rejected += 1
                if rej.uuid is not None:
                    rejected[c.station_id].append(
                        WireRejection(uuid=UUID(rej.uuid), reason=rej.reason[:200])
                    )
        for station in sorted(set(accepted) | set(rejected)):
            if not accepted[station] and not rejected[station]:
                continue
            receipt = Receipt(
                station_id=station, accepted=accepted[station], rejected=rejected[station]
            )
            fut = conn.start_publish(topic(station, "receipts"), encode(receipt))
            # Not awaited here: the next batch need not wait for the broker's
            # PUBACK. A receipt lost with the connection costs only a resend by
            # the kiosk, which we receipt again (duplicates change nothing).
            fut.add_done_callback(_log_receipt_failure)

    async def _status(self, m: Message, now: datetime) -> None:
        result = check_status(m.topic, m.payload)
        if result is None:
            return
        if isinstance(result, Rejection):
            station, _leaf = station_of(m.topic)
            await asyncio.to_thread(
                self.store.store,
                [],
                [DeadLetterIn(m.topic, station, result.reason, m.payload)],
                received_at=now,
            )
            return
        applied = await asyncio.to_thread(self.store.apply_status, result, received_at=now)
        if applied:
            # A status arrives every minute from every station: only a change is news.
            was = self._online.get(result.station_id)
            self._online[result.station_id] = result.online
            log.log(
                logging.DEBUG if was == result.online else logging.INFO,
                "station %s %s",
                result.station_id,
                "online" if result.online else "offline",
            )


_STATION_TOPIC = re.compile(r"^hk/v1/st/([a-z0-9][a-z0-9-]{0,62})/")


def station_in(topic: str) -> str | None:
    m = _STATION_TOPIC.match(topic)
    return m[1] if m else None


def failure_reason(err: BaseException) -> str:
    """``store_failed: <kind>: <first line>`` (no parameters: they hold the payload)."""
    first = (str(getattr(err, "orig", None) or err).splitlines() or [""])[0]
    return f"store_failed: {type(err).__name__}: {first[:300]}"


def _log_receipt_failure(fut: asyncio.Future[None]) -> None:
    if fut.cancelled():
        return
    err = fut.exception()
    if isinstance(err, PublishRefusedError):
        log.error("receipt refused by the broker: %s", err)
    elif err is not None:
        log.warning("receipt not confirmed: %s", err)


async def run_until_signalled(worker: IngestWorker) -> None:
    await signals.run_until_signalled(worker.run(), name="ingest")
