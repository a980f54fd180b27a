"""The visit lock: held from check-in to the end of a visit, so the updater
never switches releases under an elder; while an update holds it, no visit
begins (the elder is told to wait a minute)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from healthkiosk.config import KioskConfig
from healthkiosk.visitlock import VisitLock, visit_in_progress
from kiosk.flow import Devices, FakeClock
from kiosk.flow.state import Screen
from kiosk.flow.visit import VisitFlow
from tests.support.fake_devices import (
    FakeBloodPressureMonitor,
    FakeGlucoseMeter,
    FakeIdCardReader,
    demo_card,
)
from tests.support.flowkit import MemoryRecorder, make_rules


@pytest.fixture
async def kit(
    tmp_path: Path,
) -> AsyncIterator[tuple[VisitFlow, FakeClock, FakeIdCardReader, Path]]:
    clock = FakeClock()
    reader = FakeIdCardReader(clock=clock)
    lock_path = tmp_path / "visit.lock"
    flow = VisitFlow(
        config=KioskConfig(done_s=2),
        rules=make_rules(),
        devices=Devices(
            blood_pressure=FakeBloodPressureMonitor(clock=clock),
            glucose=FakeGlucoseMeter(clock=clock),
            id_card=reader,
        ),
        recorder=MemoryRecorder(),
        clock=clock,
        version="test",
        visit_gate=VisitLock(lock_path),
    )
    task = asyncio.create_task(flow.run())
    await clock.settle()
    yield flow, clock, reader, lock_path
    flow.close()
    await clock.advance(1)
    await asyncio.wait_for(task, 5)


async def test_the_lock_is_held_from_check_in_until_the_visit_ends(kit) -> None:  # type: ignore[no-untyped-def]
    flow, clock, reader, lock_path = kit
    assert not visit_in_progress(lock_path)
    flow.start_checkin()
    await clock.settle()
    assert visit_in_progress(lock_path)
    reader.present(demo_card())
    await clock.advance(0.2)
    flow.confirm()
    assert visit_in_progress(lock_path)
    flow.back()  # back to choose, then the elder walks away: the idle timeout ends it
    await clock.advance(200)
    assert flow.state.screen is Screen.ATTRACT
    assert not visit_in_progress(lock_path)


async def test_no_visit_begins_while_an_update_holds_the_lock(kit) -> None:  # type: ignore[no-untyped-def]
    flow, clock, _reader, lock_path = kit
    updater = VisitLock(lock_path)
    assert updater.begin(wait=False)
    try:
        flow.start_checkin()
        await clock.settle()
        st = flow.state
        assert st.screen is Screen.ERROR and st.error is not None
        assert st.error.key == "updating" and st.error.actions == ("call_staff", "finish")
        flow.finish()
        await clock.advance(5)
        assert flow.state.screen is Screen.ATTRACT
    finally:
        updater.end()
    flow.start_checkin()  # the update is over: visits begin again
    await clock.settle()
    assert flow.state.screen is Screen.CHECKIN and visit_in_progress(lock_path)
