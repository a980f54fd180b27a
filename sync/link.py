"""The kiosk's MQTT link (``healthkiosk sync run``, systemd unit ``kiosk-sync``).

Publishes the outbox in ``station_seq`` order with a bounded window of readings
sent and not yet receipted; a reading leaves the outbox only when the doctor's
side's ``hk.receipt/1`` names it (end to end, not the broker's PUBACK); a
reading without a receipt after ``mqtt.receipt_timeout_s`` is sent again; a
rejection is kept with its reason and never resent; a publish the broker
refuses (v5 reason code) stays in the outbox and raises an alert.

Presence: a retained ``hk.status/1`` on ``hk/v1/st/{station}/status`` on
connect and every ``status_interval_s``, and a last will saying
``online: false``; ordering by boot number and sequence (see
:mod:`sync.schema`, status ordering).

Station management (remote configuration and commands, update orders, the
station figures of the status) lives above the link, in :mod:`management`: the
composition root (``healthkiosk sync run``) gives the link a
:class:`Management` when it makes it; the link subscribes to its topics, hands
it their messages, and takes a new configuration from it
(:meth:`Link.apply_config`, :meth:`Link.request_reconnect`). Without one the
link only delivers readings and reports its status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from healthkiosk import __version__, health, signals
from healthkiosk.config import Config
from healthkiosk.errors import (
    BrokerUnavailableError,
    PublishRefusedError,
    SchemaError,
    SubscribeRefusedError,
    SyncError,
    SyncTimeoutError,
)
from healthkiosk.mqtt import (
    Backoff,
    Connection,
    Message,
    Will,
    connect,
    settings_from,
    wait,
)
from healthkiosk.sdnotify import Notifier
from sync import schema, statusfile
from sync.outbox import Outbox, Pending
from sync.schema import (
    CountsMessage,
    DayCount,
    ReadingBatch,
    Receipt,
    StatusMessage,
    decode,
    encode,
    topic,
)

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL_S = 3600.0
COUNTS_INTERVAL_S = 24 * 3600.0
"""How often a station sends ``hk.counts/1``."""
MAX_ALERTS = 20
HEALTH_UNIT = "kiosk-sync"
PREFETCH = 100
RECEIPTS_PER_TRANSACTION = 50
ATTEMPT_FLUSH_S = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


class RateLimiter:
    """A token bucket: at most ``rate`` readings per second on average."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate or 1.0)
        self._tokens = self.capacity
        self._clock = clock
        self._last = clock()

    def max_batch(self, wanted: int) -> int:
        return wanted if self.rate is None else max(1, min(wanted, int(self.capacity)))

    async def take(self, n: int) -> None:
        if self.rate is None:
            return
        while True:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= n:
                self._tokens -= n
                return
            await asyncio.sleep((n - self._tokens) / self.rate)


@dataclass(slots=True)
class _InFlight:
    deadline: float
    seq: int


class Management(Protocol):
    """What the link needs of station management (:mod:`management.station`)."""

    def topics(self) -> list[tuple[str, int]]: ...
    def handles(self, name: str) -> bool: ...
    def on_message(self, msg: Message) -> None: ...
    async def connected(self, conn: Connection, generation: int) -> None: ...
    def disconnected(self) -> None: ...
    def status_fields(self) -> dict[str, Any]: ...
    async def run(self) -> None: ...


class NoManagement:
    """A link without station management: readings and status only."""

    def topics(self) -> list[tuple[str, int]]:
        return []

    def handles(self, name: str) -> bool:
        return False

    def on_message(self, msg: Message) -> None:
        return None

    async def connected(self, conn: Connection, generation: int) -> None:
        return None

    def disconnected(self) -> None:
        return None

    def status_fields(self) -> dict[str, Any]:
        return {}

    async def run(self) -> None:
        return None


class Link:
    """One station's sync link; :meth:`run` until cancelled."""

    def __init__(
        self,
        cfg: Config,
        sessions: sessionmaker[Session],
        *,
        notifier: Notifier | None = None,
        status_path: Path | None = None,
        management: Callable[[Link], Management] | None = None,
    ) -> None:
        self.cfg = cfg
        self.station_id = cfg.station.id
        self.outbox = Outbox(sessions, station_id=self.station_id)
        self.notifier = notifier or Notifier()
        self.status_path = status_path or statusfile.path_for(cfg.data_dir)
        self._retune()
        self.inflight: dict[str, _InFlight] = {}
        self.max_inflight_seen = 0
        self._resend: deque[str] = deque()
        self._buffer: deque[Pending] = deque()
        self._warm = False
        self._attempted: list[str] = []
        self._cursor = -1
        self._wake = asyncio.Event()
        self._conn_no = 0
        self._status_k = 0
        self._counts_sent_at = 0.0
        self.counts_interval_s = COUNTS_INTERVAL_S
        self._started = time.monotonic()
        self._boot_id = ""
        self._state: statusfile.LinkState | None = None
        self._state_dirty = asyncio.Event()
        self._alerts: deque[str] = deque(maxlen=MAX_ALERTS)
        self._reported_ready = False
        self.generation = 0
        """Grows with every configuration applied (:meth:`apply_config`)."""
        self._reconnect_now = asyncio.Event()
        self._conn: Connection | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self.management: Management = management(self) if management else NoManagement()

    def _retune(self) -> None:
        m = self.cfg.mqtt
        self.window = m.inflight_window
        self.batch_size = min(m.batch_size, m.inflight_window)
        self.receipt_timeout_s = m.receipt_timeout_s
        self.rate = RateLimiter(m.rate_limit_per_s)
        self.backoff = Backoff(m.reconnect_min_s, m.reconnect_max_s)

    # --- station management's side ----------------------------------------------------

    def apply_config(self, cfg: Config) -> int:
        """Run with ``cfg`` from now on (the link's tunables at once, the broker
        settings at the next connection); returns the new generation."""
        self.cfg = cfg
        self._retune()
        self.generation += 1
        return self.generation

    def request_reconnect(self) -> None:
        """Drop the connection (cleanly) and connect again with the current settings."""
        self._reconnect_now.set()
        conn = self._conn
        if conn is not None:
            task = asyncio.get_running_loop().create_task(conn.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def last_error(self) -> str | None:
        return self._state.last_error if self._state else None

    async def resync(self) -> int:
        """Send every unreceipted reading again now; how many there are."""
        self.inflight.clear()
        self._resend.clear()
        self._buffer.clear()
        self._warm = False
        self._cursor = -1
        self._wake.set()
        summary = await asyncio.to_thread(self.outbox.summary)
        return summary.backlog

    # --- status -------------------------------------------------------------------

    def _alert(self, text: str) -> None:
        log.warning("alert: %s", text)
        stamped = f"{_now().isoformat(timespec='seconds')} {text}"
        self._alerts.append(stamped)
        if self._state is not None:
            self._state.alerts = list(self._alerts)
        self._state_dirty.set()

    def _set(self, **changes: object) -> None:
        if self._state is None:
            return
        for key, value in changes.items():
            setattr(self._state, key, value)
        self._state_dirty.set()

    async def _state_writer(self) -> None:
        while True:
            await self._state_dirty.wait()
            self._state_dirty.clear()
            if self._state is not None:
                self._state.in_flight = len(self.inflight)
                self._state.updated_at = _now().isoformat()
                await asyncio.to_thread(statusfile.write, self.status_path, self._state)
            await asyncio.sleep(0.5)

    def _flush_state(self) -> None:
        if self._state is not None:
            self._state.in_flight = len(self.inflight)
            self._state.updated_at = _now().isoformat()
            with contextlib.suppress(OSError):
                statusfile.write(self.status_path, self._state)

    async def _status_message(self, *, online: bool, seq: int) -> StatusMessage:
        summary = await asyncio.to_thread(self.outbox.summary)
        extra = await asyncio.to_thread(self.management.status_fields)
        return StatusMessage(
            station_id=self.station_id,
            online=online,
            boot_id=self._boot_id,
            seq=seq,
            sent_at=_now(),
            version=__version__,
            uptime_s=round(time.monotonic() - self._started, 1),
            backlog=summary.backlog,
            oldest_undelivered=summary.oldest_undelivered,
            last_receipt=(
                datetime.fromisoformat(self._state.last_receipt)
                if self._state and self._state.last_receipt
                else None
            ),
            rejected=summary.rejected,
            alerts=[a[:200] for a in self._alerts],
            **extra,
        )

    def _next_status_seq(self) -> int:
        self._status_k = min(self._status_k + 1, schema.WILL_OFFSET - 1)
        return schema.status_seq(self._conn_no, self._status_k)

    def _will(self) -> Will:
        msg = StatusMessage(
            station_id=self.station_id,
            online=False,
            boot_id=self._boot_id,
            seq=schema.will_seq(self._conn_no),
            version=__version__,
        )
        return Will(topic=topic(self.station_id, "status"), payload=encode(msg), retain=True)

    async def _publish_status(self, conn: Connection, *, online: bool = True) -> None:
        msg = await self._status_message(online=online, seq=self._next_status_seq())
        await conn.publish(topic(self.station_id, "status"), encode(msg), retain=True, timeout=10.0)

    # --- main loop ------------------------------------------------------------------

    async def run(self) -> None:
        boot = await asyncio.to_thread(self.outbox.next_boot)
        self._boot_id = schema.new_boot_id(boot)
        self._state = statusfile.LinkState(
            pid=os.getpid(), boot_id=self._boot_id, started_at=_now().isoformat()
        )
        self._set(broker=f"{self.cfg.mqtt.host}:{self.cfg.mqtt.port}")
        self._flush_state()
        self.notifier.ready()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._state_writer())
                tg.create_task(self._housekeeping())
                tg.create_task(self._attempt_flusher())
                wd = Notifier.watchdog_interval_s()
                if wd is not None and self.notifier.enabled:
                    tg.create_task(self._watchdog(wd))
                tg.create_task(self._connection_loop())
                tg.create_task(self.management.run())
        finally:
            self._set(connected=False)
            self._flush_state()
            self.notifier.stopping()

    async def _watchdog(self, interval: float) -> None:
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    async def _housekeeping(self) -> None:
        while True:
            try:
                n = await asyncio.to_thread(
                    self.outbox.purge_delivered,
                    now=_now(),
                    retention_days=self.cfg.store.retention_days,
                )
                if n:
                    log.info(
                        "purged %d delivered readings older than %d days",
                        n,
                        self.cfg.store.retention_days,
                    )
            except Exception as err:  # keep delivering even if a purge fails
                log.error("purge failed: %s", err)
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)

    async def _connection_loop(self) -> None:
        while True:
            self._conn_no += 1
            if self._conn_no > schema.MAX_CONNECTIONS:
                # The status seq would pass its 32-bit column: a new boot number
                # outranks all of this one's (sync/schema.py, hk.status/1 ordering).
                boot = await asyncio.to_thread(self.outbox.next_boot)
                self._boot_id = schema.new_boot_id(boot)
                self._conn_no = 1
                self._set(boot_id=self._boot_id)
            self._status_k = 0
            self._reconnect_now.clear()
            generation = self.generation
            self._set(broker=f"{self.cfg.mqtt.host}:{self.cfg.mqtt.port}")
            try:
                try:
                    settings = settings_from(self.cfg.mqtt, client_id=self.station_id)
                except OSError as pw_err:  # the password file
                    raise BrokerUnavailableError(f"mqtt.password_file: {pw_err}") from pw_err
                async with connect(settings, will=self._will()) as conn:
                    self.backoff.reset()
                    self._conn = conn
                    try:
                        await self._on_connected(conn, generation)
                    except asyncio.CancelledError:
                        await self._say_offline(conn)
                        raise
                    finally:
                        self._conn = None
                        self.management.disconnected()
            except* (
                BrokerUnavailableError,
                SyncTimeoutError,
                SubscribeRefusedError,
                PublishRefusedError,
            ) as group:
                err = group.exceptions[0]
                self._set(connected=False, last_error=str(err))
                if isinstance(err, SubscribeRefusedError | PublishRefusedError):
                    self._alert(str(err))
                log.warning("broker link: %s", err)
            finally:
                self.inflight.clear()
                self._resend.clear()
                self._buffer.clear()
                self._warm = False
                self._cursor = -1
            self._set(connected=False)
            self.notifier.status("disconnected")
            fresh = self._reconnect_now.is_set() or generation != self.generation
            delay = 0.0 if fresh else self.backoff.next_delay()
            with contextlib.suppress(TimeoutError):
                # A new configuration cuts the back-off short.
                await asyncio.wait_for(self._reconnect_now.wait(), timeout=delay)

    async def _say_offline(self, conn: Connection) -> None:
        """A clean stop says offline itself (a normal DISCONNECT sends no will)."""
        if not conn.connected:
            return
        with contextlib.suppress(Exception):
            await asyncio.shield(
                asyncio.wait_for(self._publish_status(conn, online=False), timeout=2.0)
            )

    async def _on_connected(self, conn: Connection, generation: int) -> None:
        if generation != self.generation:
            return  # the configuration changed while connecting: connect again
        await conn.subscribe(
            [(topic(self.station_id, "receipts"), 1), (topic(self.station_id, "status"), 1)],
            timeout=10.0,
        )
        # Configuration and commands apart: a broker that refuses them (a station
        # whose group the broker does not know) must not stop the readings.
        managed = list(self.management.topics())
        try:
            if managed:
                await conn.subscribe(managed, timeout=10.0)
        except SubscribeRefusedError as err:
            self._alert(f"remote configuration and commands not received: {err}")
        await self._publish_status(conn)
        await self.management.connected(conn, generation)
        self._set(connected=True, connected_since=_now().isoformat(), last_error=None)
        # The status file says "connected" before systemd hears it (the writer
        # task would otherwise lag by up to its 0.5 s pace).
        await asyncio.to_thread(self._flush_state)
        if not self._reported_ready:
            # kiosk-sync's part of the updater's health check after a switch:
            # this release's process reached the broker.
            await asyncio.to_thread(
                health.report, "ready", unit=HEALTH_UNIT, health_dir=health.dir_for(self.cfg)
            )
            self._reported_ready = True
        self.notifier.status(f"connected to {conn.settings.host}:{conn.settings.port}")
        log.info(
            "connected to %s:%d (session present: %s)",
            conn.settings.host,
            conn.settings.port,
            conn.session_present,
        )
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._receiver(conn))
            tg.create_task(self._sender(conn, tg))
            tg.create_task(self._heartbeat(conn))
            tg.create_task(self._counts(conn))

    async def _heartbeat(self, conn: Connection) -> None:
        while True:
            await asyncio.sleep(self.cfg.mqtt.status_interval_s)
            await self._publish_status(conn)

    async def _counts(self, conn: Connection) -> None:
        """``hk.counts/1`` once a day (and at the first connection of a start):
        the doctor's side compares them with what it stored (issue 19)."""
        while True:
            wait = self._counts_sent_at + self.counts_interval_s - time.monotonic()
            if self._counts_sent_at and wait > 0:
                await asyncio.sleep(wait)
                continue
            try:
                days = await asyncio.to_thread(
                    self.outbox.day_counts, now=_now(), retention_days=self.cfg.store.retention_days
                )
                msg = CountsMessage(
                    station_id=self.station_id,
                    at=_now(),
                    days=[
                        DayCount(day=d, held=h, acknowledged=a)
                        for d, h, a in days[-schema.MAX_COUNT_DAYS :]
                    ],
                )
                await conn.publish(
                    topic(self.station_id, "counts"), encode(msg), retain=True, timeout=10.0
                )
            except Exception as err:  # never the readings' link for the counts' sake
                log.warning("daily counts not sent: %s", err)
            self._counts_sent_at = time.monotonic()

    # --- receipts ---------------------------------------------------------------------

    async def _receiver(self, conn: Connection) -> None:
        async for first in conn.messages():
            # Every receipt at hand is applied in one transaction; then acked.
            batch = [first, *conn.drain(RECEIPTS_PER_TRANSACTION - 1)]
            receipts: list[Receipt] = []
            for msg in batch:
                try:
                    decoded = await self._handle(conn, msg)
                except SyncError:
                    raise
                except Exception as err:  # a bad message never stops the link
                    log.error("could not handle message on %s: %s", msg.topic, err)
                    continue
                if decoded is not None:
                    receipts.append(decoded)
            if receipts:
                try:
                    await self._apply_receipts(receipts)
                except SyncError:
                    raise
                except Exception as err:
                    log.error("could not apply receipts: %s", err)
            for msg in batch:
                conn.ack(msg)

    async def _handle(self, conn: Connection, msg: Message) -> Receipt | None:
        if self.management.handles(msg.topic):
            self.management.on_message(msg)  # queued: decided in order by its own task
            return None
        try:
            decoded = decode(msg.payload)
        except SchemaError as err:
            log.warning("ignoring invalid message on %s: %s", msg.topic, err)
            return None
        if isinstance(decoded, Receipt) and msg.topic == topic(self.station_id, "receipts"):
            if decoded.station_id != self.station_id:
                log.warning("ignoring a receipt for station %s", decoded.station_id)
                return None
            return decoded
        if (
            isinstance(decoded, StatusMessage)
            and msg.topic == topic(self.station_id, "status")
            and not decoded.online
            and conn.connected
        ):
            # Our own retained status: if an old connection's will overwrote it, say
            # again that we are online (the doctor's side orders by boot and seq).
            await self._publish_status(conn)
        return None

    async def _apply_receipts(self, receipts: list[Receipt]) -> None:
        now = _now()
        accepted = [str(u) for r in receipts for u in r.accepted]
        rejected = [(str(x.uuid), x.reason) for r in receipts for x in r.rejected]
        # The doctor's side has them: their window slots are free now; the
        # commit below runs while the next batch goes out.
        for u in accepted:
            self.inflight.pop(u, None)
        for u, reason in rejected:
            self.inflight.pop(u, None)
            log.warning("reading %s rejected by the doctor's side: %s", u, reason)
        self._wake.set()
        attempted, self._attempted = self._attempted, []
        try:
            delivered, n_rej = await asyncio.to_thread(
                self.outbox.apply_receipt, accepted, rejected, attempted=attempted, at=now
            )
        except Exception:
            # Not recorded: send them again (the doctor's side will receipt again).
            self._resend.extend(accepted)
            self._resend.extend(u for u, _r in rejected)
            self._wake.set()
            raise
        if n_rej:
            self._alert(f"{n_rej} reading(s) rejected by the doctor's side")
        assert self._state is not None
        self._set(last_receipt=now.isoformat(), delivered=self._state.delivered + delivered)
        self._wake.set()

    # --- sending ------------------------------------------------------------------------

    def _expire(self, now: float) -> float | None:
        """Move timed-out readings to the resend queue; the next deadline."""
        nearest: float | None = None
        for uuid, entry in list(self.inflight.items()):
            if entry.deadline <= now:
                del self.inflight[uuid]
                self._resend.append(uuid)
            elif nearest is None or entry.deadline < nearest:
                nearest = entry.deadline
        return nearest

    async def _next_items(self, free: int) -> tuple[list[Pending], bool]:
        """Up to ``free`` readings to send: timed-out ones first, then new ones.
        The flag says whether the outbox ran dry."""
        items: list[Pending] = []
        if self._resend:
            take = [self._resend.popleft() for _ in range(min(free, len(self._resend)))]
            items = await asyncio.to_thread(self.outbox.fetch_uuids, take)
        dry = False
        need = free - len(items)
        if need > 0 and len(self._buffer) < need:
            # Read ahead: one query for several batches keeps the database off the
            # path between a receipt and the next send (but the first send of a
            # connection waits for no more than it needs).
            size = max(PREFETCH, need) if self._warm else need
            self._warm = True
            more = await asyncio.to_thread(self.outbox.fetch_after, self._cursor, size)
            if more:
                self._cursor = max(self._cursor, more[-1].station_seq)
            self._buffer.extend(more)
            dry = len(more) < size
        while self._buffer and len(items) < free:
            p = self._buffer.popleft()
            if p.uuid not in self.inflight:
                items.append(p)
        return items, dry

    async def _sender(self, conn: Connection, tg: asyncio.TaskGroup) -> None:
        loop = asyncio.get_running_loop()
        poll = self.cfg.mqtt.poll_interval_s
        next_poll = 0.0
        while True:
            now = loop.time()
            nearest = self._expire(now)
            free = self.window - len(self.inflight)
            want = self.rate.max_batch(self.batch_size)
            can_send = free >= min(want, self.window) or (free > 0 and not self.inflight)
            if can_send and (self._resend or self._buffer or now >= next_poll):
                items, dry = await self._next_items(min(free, want))
                if dry and not self._resend:
                    next_poll = loop.time() + poll
                if items:
                    await self.rate.take(len(items))
                    self._send(conn, tg, items)
                    continue
            timeout = poll
            if nearest is not None:
                timeout = min(timeout, max(0.0, nearest - loop.time()))
            if not can_send or not (self._resend or self._buffer):
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=max(timeout, 0.01))
                if self._wake.is_set():
                    next_poll = 0.0

    def _send(self, conn: Connection, tg: asyncio.TaskGroup, items: list[Pending]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.receipt_timeout_s
        for p in items:
            self.inflight[p.uuid] = _InFlight(deadline=deadline, seq=p.station_seq)
        self.max_inflight_seen = max(self.max_inflight_seen, len(self.inflight))
        if len(items) == 1:
            payload = encode(items[0].message)
        else:
            payload = encode(
                ReadingBatch(station_id=self.station_id, readings=[p.message for p in items])
            )
        fut = conn.start_publish(topic(self.station_id, "readings"), payload, qos=1)
        assert self._state is not None
        self._state.sent += len(items)
        tg.create_task(self._await_puback(fut, [p.uuid for p in items]))

    async def _await_puback(self, fut: asyncio.Future[None], uuids: list[str]) -> None:
        now = _now()
        try:
            await wait(fut, timeout=self.receipt_timeout_s, what="PUBACK")
        except PublishRefusedError as err:
            # Not sent: the rows stay and are tried again after the receipt timeout.
            self._alert(
                f"broker refused {len(uuids)} reading(s): {err.reason_name} "
                f"({err.reason_code:#04x})"
            )
            await asyncio.to_thread(self.outbox.record_attempt, uuids, at=now, error=str(err))
            return
        # Counted with the next receipt's transaction (or by the flusher): no
        # extra commit on the path of every batch.
        self._attempted.extend(uuids)

    async def _attempt_flusher(self) -> None:
        while True:
            await asyncio.sleep(ATTEMPT_FLUSH_S)
            if self._attempted:
                attempted, self._attempted = self._attempted, []
                await asyncio.to_thread(self.outbox.record_attempt, attempted, at=_now())


async def run_until_signalled(link: Link) -> None:
    """Run the link; SIGTERM and SIGINT cancel it cleanly."""
    await signals.run_until_signalled(link.run(), name="kiosk-sync")
