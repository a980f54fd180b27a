"""Devices that keep measurements (scales, thermometers) send what they
stored while nobody listened first and the one just made last, one after the
other, then fall quiet or hang up. :func:`collect_burst` gathers such a burst
(the events are whatever the driver queued); :func:`pick_new` tells the one
just made from stored ones by the device's own clock, whose offset
:func:`read_clock_offset` measures at each connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import TypeVar

from drivers.ble.link import BleLink
from healthkiosk.errors import DeviceConnectionError

log = logging.getLogger(__name__)

T = TypeVar("T")


async def collect_burst(
    link: BleLink,
    events: asyncio.Queue[T],
    *,
    what: str,
    is_result: Callable[[T], bool],
    timeout_s: float,
    settle_s: float,
) -> list[T]:
    """Every event until the first result, then every event until ``settle_s``
    pass without one or the link ends (a device that hangs up after sending is
    done, not lost). Raises the link's errors when the link is lost, or the time
    runs out, before any result."""
    got: list[T] = []

    async def until_result() -> None:
        while True:
            item = await events.get()
            got.append(item)
            if is_result(item):
                return

    try:
        await link.wait(what, until_result(), timeout_s=timeout_s)
    except DeviceConnectionError:
        # The device may send its result and hang up at once: what it sent counts.
        while not events.empty():
            got.append(events.get_nowait())
        if not any(is_result(item) for item in got):
            raise
        return got
    while not (link.lost.is_set() and events.empty()):
        try:
            item = await link_or_timeout(link, events, settle_s)
        except TimeoutError:
            break
        if item is None:
            continue
        got.append(item)
    return got


async def link_or_timeout(link: BleLink, events: asyncio.Queue[T], settle_s: float) -> T | None:
    """The next event; None when the link ended first; TimeoutError after ``settle_s``."""
    if not events.empty():
        return events.get_nowait()
    getter = asyncio.ensure_future(events.get())
    lost = asyncio.ensure_future(link.lost.wait())
    try:
        done, _ = await asyncio.wait(
            {getter, lost}, timeout=settle_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        lost.cancel()
    if getter in done:
        return getter.result()
    getter.cancel()
    if lost in done:
        return None
    raise TimeoutError


async def read_clock_offset(link: BleLink, tz: tzinfo) -> timedelta | None:
    """The device clock minus the station's (:meth:`BleLink.read_clock_drift`:
    Current Time against the middle moment of its read); None when it has no
    readable Current Time or an unset date."""
    drift = await link.read_clock_drift(tz)
    return None if drift is None else timedelta(seconds=drift.drift_s)


def pick_new(
    times: Sequence[datetime | None],
    *,
    offset: timedelta | None,
    now: datetime,
    max_age_s: float,
    ahead_s: float = 60.0,
) -> int | None:
    """Pure: the index of the measurement that may be the one just made — the
    last one not known to be old. A time stamp is judged by the device's own
    clock (``offset``: device − station): older than ``max_age_s``, or more
    than ``ahead_s`` in its future, is a stored record. Without a time stamp or
    an offset nothing is known, and the last one is taken. None: all are old."""
    for index in range(len(times) - 1, -1, -1):
        when = times[index]
        if when is None or offset is None:
            return index
        age = ((now + offset) - when).total_seconds()
        if -ahead_s <= age <= max_age_s:
            return index
    return None
