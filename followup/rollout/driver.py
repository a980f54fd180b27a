"""The rollout driver: publishes update orders stage by stage and reads the reports.

Runs as ``healthkiosk admin rollout run`` (systemd unit ``followup-rollout``),
one per deployment: the decisions are in the database, so the driver may be
restarted at any time, and the ``admin rollout start|pause|resume|abort``
commands only change rows it picks up on its next tick.

Every tick (``tick_s``) it publishes, retained and QoS 1, an
``hk.update-order/1`` on ``hk/v1/st/<id>/update`` for each station of the
running rollout's current stage not yet ordered, and, for a rollout stopped by
its thresholds or aborted, an empty retained message on the same topic for each
ordered station without a final outcome (so a station that has not started
does nothing). It subscribes to ``hk/v1/st/+/update-report``: every report is
recorded in ``rollout_stations``; a final one (succeeded, failed, rolled_back,
refused) feeds :func:`followup.rollout.decisions.record`, which moves to the next stage,
completes, or stops the rollout. The next tick publishes what that decided.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from followup.rollout import store as rollout_store
from healthkiosk import signals
from healthkiosk.config import Config
from healthkiosk.errors import (
    BrokerUnavailableError,
    PublishRefusedError,
    SchemaError,
    SubscribeRefusedError,
    SyncTimeoutError,
)
from healthkiosk.mqtt import Backoff, Connection, connect, settings_from
from healthkiosk.sdnotify import Notifier
from sync.schema import UpdateReport, decode, encode, topic

log = logging.getLogger(__name__)

REPORTS = "hk/v1/st/+/update-report"


def _now() -> datetime:
    return datetime.now(UTC)


class RolloutDriver:
    def __init__(
        self,
        cfg: Config,
        engine: Engine,
        *,
        client_id: str = "followup-rollout",
        tick_s: float = 2.0,
        notifier: Notifier | None = None,
    ) -> None:
        self.cfg = cfg
        self.engine = engine
        self.client_id = client_id
        self.tick_s = tick_s
        self.notifier = notifier or Notifier()
        m = cfg.followup.mqtt
        self.backoff = Backoff(m.reconnect_min_s, m.reconnect_max_s)
        self._wake = asyncio.Event()

    async def run(self) -> None:
        settings = settings_from(
            self.cfg.followup.account_mqtt(self.client_id), client_id=self.client_id
        )
        self.notifier.ready()
        while True:
            try:
                async with connect(settings) as conn:
                    await conn.subscribe([(REPORTS, 1)], timeout=10.0)
                    self.backoff.reset()
                    self.notifier.status(f"connected as {self.client_id}")
                    log.info("rollout driver connected as %s", self.client_id)
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._receiver(conn))
                        tg.create_task(self._ticker(conn))
            except* (
                BrokerUnavailableError,
                SyncTimeoutError,
                SubscribeRefusedError,
                PublishRefusedError,
            ) as group:
                log.warning("rollout driver link: %s", group.exceptions[0])
            self.notifier.status("disconnected")
            await asyncio.sleep(self.backoff.next_delay())

    # --- reports --------------------------------------------------------------------

    async def _receiver(self, conn: Connection) -> None:
        async for msg in conn.messages():
            try:
                report = decode(msg.payload) if msg.payload else None
            except SchemaError as err:
                log.warning("ignoring an invalid report on %s: %s", msg.topic, err)
                report = None
            if isinstance(report, UpdateReport):
                if msg.topic != topic(report.station_id, "update-report"):
                    log.warning("ignoring a report of %s on %s", report.station_id, msg.topic)
                elif await asyncio.to_thread(self.record, report):
                    self._wake.set()
            conn.ack(msg)

    def record(self, report: UpdateReport) -> bool:
        with Session(self.engine) as session, session.begin():
            known = rollout_store.apply_report(session, report, now=_now())
        if known:
            log.info(
                "rollout %s: %s %s %s %s",
                report.rollout_id, report.station_id, report.step, report.outcome,
                report.reason[:200],
            )  # fmt: skip
        return known

    # --- orders ----------------------------------------------------------------------

    async def _ticker(self, conn: Connection) -> None:
        while True:
            self._wake.clear()
            await self.tick(conn)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.tick_s)

    async def tick(self, conn: Connection) -> None:
        orders, clears = await asyncio.to_thread(self._due)
        for d in orders:
            await conn.publish(
                topic(d.station_id, "update"), encode(d.order), qos=1, retain=True, timeout=10.0
            )
            await asyncio.to_thread(self._mark_ordered, d.rollout_id, d.station_id)
            log.info("rollout %s: ordered %s to release %s", d.rollout_id, d.station_id,
                     d.order.release)  # fmt: skip
        for rollout_id, stations in clears.items():
            for station in stations:
                await conn.publish(topic(station, "update"), b"", qos=1, retain=True, timeout=10.0)
            await asyncio.to_thread(self._mark_cleared, rollout_id)
            log.info("rollout %s: cleared %d pending orders", rollout_id, len(stations))

    def _due(self) -> tuple[list[rollout_store.DueOrder], dict[str, list[str]]]:
        with Session(self.engine) as session:
            return rollout_store.due_orders(session), rollout_store.due_clears(session)

    def _mark_ordered(self, rollout_id: str, station_id: str) -> None:
        with Session(self.engine) as session, session.begin():
            rollout_store.mark_ordered(session, rollout_id, station_id, now=_now())

    def _mark_cleared(self, rollout_id: str) -> None:
        with Session(self.engine) as session, session.begin():
            rollout_store.mark_cleared(session, rollout_id, now=_now())


async def run_until_signalled(driver: RolloutDriver) -> None:
    await signals.run_until_signalled(driver.run(), name="rollout driver")
