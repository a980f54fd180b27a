"""Finding 1 of issue 19, the station's side: a status ``seq`` never passes the
32-bit column it is stored in, however often the station reconnects in one boot
(today's 2,148th connection overflowed it: three days of broker outage)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from healthkiosk.config import load_config
from healthkiosk.mqtt import Connection, connect
from sync import schema
from sync.link import Link
from sync.schema import StatusMessage, decode
from sync.store.db import open_store
from tests.support.synckit import Mosquitto, fill_store
from tests.sync.test_link import _doctor

INT32_MAX = 2**31 - 1
"""PostgreSQL's integer: stations.status_seq."""


def test_every_connection_number_fits_the_column() -> None:
    for c in (1, 2, schema.MAX_CONNECTIONS):
        assert schema.status_seq(c, 1) < schema.status_seq(c, 10**9) < schema.will_seq(c)
        assert schema.will_seq(c) <= INT32_MAX
        if c > 1:
            assert schema.will_seq(c - 1) < schema.status_seq(c, 1)


async def test_the_2148th_connection_in_a_boot_still_sends_a_status_that_fits(
    mosquitto: Callable[..., Mosquitto], deploy
) -> None:
    station = "st-sq"
    broker = mosquitto([station])
    d = deploy(broker, station, "sqlite:///unused")
    fill_store(d.store, 1)
    link = Link(load_config(d.kiosk), open_store(d.store))
    async with connect(_doctor(broker, "seq-watch")) as doc:
        await doc.subscribe([(f"hk/v1/st/{station}/status", 1)], timeout=5)
        task = asyncio.create_task(link.run())
        try:
            first = await _next_status(doc, online=True)
            # As if the broker had been out for three days: 2,147 attempts so far.
            link._conn_no = 2147
            link.request_reconnect()
            second = await _next_status(doc, online=True, after=first)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        last = await _next_status(doc, online=False, after=second)
    for st in (first, second, last):
        assert st.seq <= INT32_MAX
    assert schema.is_newer(second.boot_id, second.seq, than_boot=first.boot_id, than_seq=first.seq)
    assert schema.boot_number(second.boot_id) == schema.boot_number(first.boot_id) + 1
    assert schema.is_newer(last.boot_id, last.seq, than_boot=second.boot_id, than_seq=second.seq)


async def _next_status(
    doc: Connection, *, online: bool, after: StatusMessage | None = None
) -> StatusMessage:
    """The next status saying ``online`` that is not ``after`` again."""
    while True:
        msg = await doc.next_message(timeout=15)
        doc.ack(msg)
        st = decode(msg.payload)
        assert isinstance(st, StatusMessage)
        if st.online is online and (
            after is None or (st.boot_id, st.seq) != (after.boot_id, after.seq)
        ):
            return st
