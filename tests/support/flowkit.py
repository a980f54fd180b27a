"""Flow test kit: the in-memory recorder, the Harness and the fixtures.

conftest.py re-exports the fixtures; import helpers from here, never from
``conftest`` (a name every test folder shares).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pytest

from healthkiosk.config import KioskConfig
from healthkiosk.errors import StoreFullError
from healthkiosk.readings import DeviceMemoryRecord
from healthkiosk.rules import RulesConfig, load_rules
from kiosk.flow import CompletedReading, Devices, FakeClock, ResidentIdentity, State, StoreStatus
from kiosk.flow.ports import CouldNotMeasure, PinAttempts
from kiosk.flow.state import Screen, TrendPoint
from kiosk.flow.visit import VisitFlow
from tests.support.fake_devices import (
    FakeBloodPressureMonitor,
    FakeGlucoseMeter,
    FakeIdCardReader,
)


@dataclass
class MemoryRecorder:
    """A fake recorder: keeps readings in a list; can be told the store is full."""

    saved: list[CompletedReading] = field(default_factory=list)
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    memory: list[tuple[str, DeviceMemoryRecord]] = field(default_factory=list)
    """Device-memory records kept, with the role of their device."""
    could_not_measure: list[CouldNotMeasure] = field(default_factory=list)
    visits: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    full: bool = False
    saving: list[str] = field(default_factory=list)
    """Screen at the moment each save ran (it must not say saved yet)."""
    flow: VisitFlow | None = None

    async def save(self, reading: CompletedReading) -> None:
        await asyncio.sleep(0)
        if self.flow is not None:
            st = self.flow.state
            self.saving.append(st.screen.value)
            assert st.bp_result is None or reading.kind != "blood_pressure"
        if self.full:
            raise StoreFullError("test: full")
        self.saved.append(reading)

    async def end_visit(self, visit_uuid: str, *, outcome: str, at: datetime) -> None:
        self.visits[visit_uuid] = (outcome, at)

    async def recent(self, resident: ResidentIdentity, *, limit: int) -> list[TrendPoint]:
        mine = [r for r in self.saved if r.resident.id_number == resident.id_number]
        out = []
        for r in mine[-limit:]:
            v = r.values
            values = (
                (float(v.systolic), float(v.diastolic))
                if r.kind == "blood_pressure"
                else (float(v.mmol_per_l or 0),)
            )  # type: ignore[union-attr]
            out.append(TrendPoint(r.measured_at, r.kind, values, r.category))
        return out

    async def known_name(self, id_number: str) -> str | None:
        return self.names.get(id_number)

    async def record_event(self, *, device: str, kind: str, detail: dict[str, Any]) -> None:
        self.events.append((device, kind, detail))

    async def record_memory(self, *, role: str, record: DeviceMemoryRecord) -> None:
        self.memory.append((role, record))

    async def save_event(self, event: CouldNotMeasure) -> None:
        self.could_not_measure.append(event)

    async def status(self) -> StoreStatus:
        return StoreStatus(pending=len(self.saved), delivered=0, last_delivered=None)


@dataclass
class Harness:
    flow: VisitFlow
    clock: FakeClock
    bp: FakeBloodPressureMonitor
    glucose: FakeGlucoseMeter
    reader: FakeIdCardReader
    recorder: MemoryRecorder
    states: list[State]

    @property
    def state(self) -> State:
        return self.flow.state

    async def until(self, pred: Callable[[State], bool], *, max_s: float = 900.0) -> float:
        """Advance the clock in small steps until ``pred(state)``; return seconds taken."""
        start = self.clock.monotonic()
        while not pred(self.flow.state):
            if self.clock.monotonic() - start > max_s:
                raise AssertionError(f"still on {self.flow.state.screen} after {max_s} s")
            await self.clock.advance(0.1)
        return self.clock.monotonic() - start

    async def screen(self, screen: Screen, *, max_s: float = 900.0) -> float:
        return await self.until(lambda s: s.screen is screen, max_s=max_s)

    async def settle(self) -> None:
        await self.clock.settle()


def make_rules(**protocol: Any) -> RulesConfig:
    base = {"readings": 2, "pause_s": 45.0, "third_if_differ_mmhg": 10, "rest_s": 300.0}
    base.update(protocol)
    return load_rules({"blood_pressure": {"protocol": base}})


@pytest.fixture
def kiosk_config() -> KioskConfig:
    return KioskConfig(idle_timeout_s=60, still_here_s=20, result_timeout_s=45, done_s=8)


@pytest.fixture
def rules() -> RulesConfig:
    return make_rules()


@asynccontextmanager
async def running_harness(
    kiosk_config: KioskConfig,
    rules: RulesConfig,
    *,
    clock_synced: Callable[[], bool | None] | None = None,
    pin_attempts: PinAttempts | None = None,
    **devices: Any,
) -> AsyncIterator[Harness]:
    """A flow running on a fake clock with the simulated devices; ``devices``
    (by role, e.g. ``blood_pressure=...``) stand in for some of them (the
    Harness's simulated twin of a replaced role is then unused);
    ``clock_synced`` says whether the wall clock is synchronised."""
    clock = FakeClock()
    bp = FakeBloodPressureMonitor(clock=clock, seed=1)
    glucose = FakeGlucoseMeter(clock=clock, seed=1)
    reader = FakeIdCardReader(clock=clock)
    recorder = MemoryRecorder()
    flow = VisitFlow(
        config=kiosk_config,
        rules=rules,
        devices=replace(Devices(blood_pressure=bp, glucose=glucose, id_card=reader), **devices),
        recorder=recorder,
        clock=clock,
        version="test",
        clock_synced=clock_synced,
        pin_attempts=pin_attempts,
    )
    recorder.flow = flow
    states: list[State] = []
    flow.subscribe(states.append)
    task = asyncio.create_task(flow.run())
    await clock.settle()
    yield Harness(flow, clock, bp, glucose, reader, recorder, states)
    flow.close()
    await clock.advance(1)
    await asyncio.wait_for(task, 5)
    for st in states:
        check_invariants(st)


@pytest.fixture
async def harness(kiosk_config: KioskConfig, rules: RulesConfig) -> AsyncIterator[Harness]:
    async with running_harness(kiosk_config, rules) as h:
        yield h


def check_invariants(st: State) -> None:
    """What every snapshot the screen may receive must satisfy."""
    if st.screen is Screen.ERROR:
        assert st.error is not None, st
    if st.screen is Screen.RESULT:
        assert st.bp_result is not None or st.glucose_result is not None, st
        for r in (st.bp_result, st.glucose_result):
            assert r is None or r.saved, st
    if st.screen is Screen.SUMMARY:
        assert len(st.summary) > 1, st
        assert all(not (i.urgent and i.notes) for i in st.summary), st  # urgent: that only
    if st.screen is Screen.CONFIRM:
        assert st.resident is not None, st
    if st.screen in (Screen.ATTRACT, Screen.DONE):
        assert not st.personal, st
    if st.screen in (Screen.MEASURE_BP, Screen.BP_PAUSE, Screen.SAVING):
        assert st.still_here_s is None, st


@pytest.fixture
def h(harness: Harness) -> Harness:
    """Short name for the harness in test bodies."""
    return harness
