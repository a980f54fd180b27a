"""Real devices through the registry's opener: opened on demand, reopened after a lost
link, and what they report (battery included) recorded in the station's DeviceBook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from emulation.twins import Simulation
from healthkiosk.config import from_mapping
from healthkiosk.errors import DeviceConnectionError, DeviceNotFoundError
from kiosk.reconnect import ReconnectingBloodPressureMonitor, ReconnectingGlucoseMeter
from management import devicestatus
from management.devicestatus import DeviceBook
from sync.schema import StatusMessage
from tests.support.fake_devices import BpOutcome, FakeBloodPressureMonitor


async def test_opens_on_demand_and_reopens_after_a_lost_link() -> None:
    opened: list[FakeBloodPressureMonitor] = []
    closed: list[int] = []
    attempts = {"n": 0}

    @asynccontextmanager
    async def opener() -> AsyncIterator[FakeBloodPressureMonitor]:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise DeviceNotFoundError("switched off", device="M1")
        dev = FakeBloodPressureMonitor(speed=1000, start_delay_s=0)
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


async def test_battery_percent_reaches_the_station_status(tmp_path: Path) -> None:
    """`run --simulate` with the BLE drivers' twins: the monitor's Battery Service
    level (64 %) lands in the DeviceBook's entry and so in ``hk.status/1``; the
    meter's twin has no Battery Service, so its entry has no battery."""
    twin = {"step_s": 0.001}
    options = {"timezone": "Asia/Shanghai", "scan_timeout_s": 5, "connect_timeout_s": 5}
    cfg = from_mapping(
        {
            "station": {"data_dir": str(tmp_path)},
            "devices": {
                "blood_pressure": {
                    "driver": "ble-bp-standard",
                    "options": {**options, "emulator": {**twin, "battery": 64}},
                },
                "glucose": {
                    "driver": "ble-glucose-standard",
                    "options": {**options, "emulator": {**twin, "battery": False, "memory": 2}},
                },
            },
        }
    )
    async with Simulation(cfg).open_devices() as devices:
        assert isinstance(devices.blood_pressure, ReconnectingBloodPressureMonitor)
        assert isinstance(devices.glucose, ReconnectingGlucoseMeter)
        reading = await devices.blood_pressure.measure(timeout_s=30)
        assert len(await devices.glucose.download()) == 2
    entries = {d.role: d for d in devicestatus.read(devicestatus.path_for(tmp_path))}
    bp = entries["blood_pressure"]
    assert bp.battery_percent == 64
    assert bp.model == reading.device.model == "BPS-EMU-1"
    assert bp.connected and bp.last_reading is not None
    assert entries["glucose"].battery_percent is None
    assert entries["glucose"].last_reading is not None
    status = StatusMessage(
        station_id="st-1", online=True, boot_id="b", seq=1, devices=list(entries.values())
    )
    wire = {d["role"]: d for d in status.model_dump(mode="json")["devices"]}
    assert wire["blood_pressure"]["battery_percent"] == 64
    assert wire["glucose"]["battery_percent"] is None


async def test_device_clock_drift_reaches_the_station_status(tmp_path: Path) -> None:
    """The monitor's clock is 812 days behind (batteries changed): the drift
    measured at the connection lands in the DeviceBook and ``hk.status/1``;
    with the station's clock not trusted it is not corrected. The Omron
    meter-less setup: an Omron twin's clock section gives its drift too."""
    options = {"timezone": "Asia/Shanghai", "scan_timeout_s": 5, "connect_timeout_s": 5}
    cfg = from_mapping(
        {
            "station": {"data_dir": str(tmp_path), "clock": "untrusted"},
            "devices": {
                "blood_pressure": {
                    "driver": "ble-bp-standard",
                    "options": {**options,
                                "emulator": {"step_s": 0.001, "faults": ["wrong_clock"]}},
                },
                "glucose": {"driver": "ble-glucose-standard",
                            "options": {**options, "emulator": {"memory": 1}}},
            },
        }
    )  # fmt: skip
    sim = Simulation(cfg)
    async with sim.open_devices() as devices:
        assert devices.blood_pressure is not None and devices.glucose is not None
        await devices.blood_pressure.measure(timeout_s=30)
        assert sim.running["ble-bp-standard"].emulator.clock_writes == 0
        await devices.glucose.download()
    entries = {d.role: d for d in devicestatus.read(devicestatus.path_for(tmp_path))}
    drift = entries["blood_pressure"].clock_drift_s
    assert drift is not None and -813 * 86400 < drift < -812 * 86400
    glucose = entries["glucose"].clock_drift_s
    assert glucose is not None and abs(glucose) < 3
    status = StatusMessage(
        station_id="st-1", online=True, boot_id="b", seq=1, devices=list(entries.values())
    )
    wire = {d["role"]: d for d in status.model_dump(mode="json")["devices"]}
    assert wire["blood_pressure"]["clock_drift_s"] == drift


async def test_a_fake_monitor_reports_its_battery_through_the_book(tmp_path: Path) -> None:
    @asynccontextmanager
    async def opener() -> AsyncIterator[FakeBloodPressureMonitor]:
        dev = FakeBloodPressureMonitor(speed=1000, start_delay_s=0)
        dev.battery_percent = 23
        yield dev

    book = DeviceBook(devicestatus.path_for(tmp_path))
    monitor = ReconnectingBloodPressureMonitor(
        opener, name="sim", transport="emulated", role="blood_pressure", book=book
    )
    await monitor.measure()
    await monitor.close()
    (entry,) = devicestatus.read(devicestatus.path_for(tmp_path))
    assert (entry.role, entry.battery_percent) == ("blood_pressure", 23)


async def test_device_memory_is_counted_in_the_station_status(tmp_path: Path) -> None:
    """Measurements the emulated monitor stored while no station listened come
    at connect: the wrapper hands them over as device memory, and their count
    lands in the DeviceBook and ``hk.status/1`` (the fleet page shows it)."""
    from datetime import timedelta

    options = {"timezone": "Asia/Shanghai", "scan_timeout_s": 5, "connect_timeout_s": 5}
    cfg = from_mapping(
        {
            "station": {"data_dir": str(tmp_path)},
            "devices": {
                "blood_pressure": {"driver": "ble-bp-standard",
                                   "options": {**options, "emulator": {"step_s": 0.001}}},
            },
        }
    )  # fmt: skip
    sim = Simulation(cfg)
    async with sim.open_devices() as devices:
        monitor = devices.blood_pressure
        assert monitor is not None
        await monitor.begin_step()  # opens the driver (and so starts its twin)
        twin = sim.running["ble-bp-standard"].emulator
        twin.measure_alone(150, 95, 80, ago=timedelta(hours=2))
        twin.measure_alone(146, 92, 78, ago=timedelta(hours=1))
        reading = await monitor.measure(timeout_s=30)
        kept = monitor.take_memory()
        assert monitor.take_memory() == []  # handed over once
    assert reading.systolic_mmhg == 128
    assert [m.reading.systolic_mmhg for m in kept] == [150, 146]
    (entry,) = [
        d for d in devicestatus.read(devicestatus.path_for(tmp_path)) if d.role == "blood_pressure"
    ]
    assert entry.memory_records == 2 and entry.last_memory_record is not None
    status = StatusMessage(station_id="st-1", online=True, boot_id="b", seq=1, devices=[entry])
    assert status.model_dump(mode="json")["devices"][0]["memory_records"] == 2
