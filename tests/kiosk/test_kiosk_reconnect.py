"""Real devices through the registry's opener: opened on demand, reopened after a lost link."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from healthkiosk.errors import DeviceConnectionError, DeviceNotFoundError
from kiosk.reconnect import ReconnectingBloodPressureMonitor
from kiosk.simulated import BpOutcome, SimulatedBloodPressureMonitor


async def test_opens_on_demand_and_reopens_after_a_lost_link() -> None:
    opened: list[SimulatedBloodPressureMonitor] = []
    closed: list[int] = []
    attempts = {"n": 0}

    @asynccontextmanager
    async def opener() -> AsyncIterator[SimulatedBloodPressureMonitor]:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise DeviceNotFoundError("switched off", device="M1")
        dev = SimulatedBloodPressureMonitor(speed=1000, start_delay_s=0)
        if len(opened) == 0:
            dev.queue(BpOutcome(130, 80, 70, error=DeviceConnectionError("gone"), error_at="start"))
        dev.queue(BpOutcome(121, 79, 66))
        opened.append(dev)
        try:
            yield dev
        finally:
            closed.append(len(opened))

    monitor = ReconnectingBloodPressureMonitor(opener, name="m1", transport="ble")
    assert monitor.info.model == "m1"
    with pytest.raises(DeviceNotFoundError):
        await monitor.measure()
    assert monitor.state == "missing"
    with pytest.raises(DeviceConnectionError):
        await monitor.measure()
    assert monitor.state == "error" and closed == [1]
    m = await monitor.measure()
    assert (m.systolic_mmhg, m.diastolic_mmhg) == (121, 79)
    assert monitor.state == "ready" and len(opened) == 2
    assert monitor.info.serial == "SIM-BP-0001"
    await monitor.close()
    await monitor.close()  # idempotent
    assert closed == [1, 2]
