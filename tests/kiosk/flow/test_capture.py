"""Visit-bound capture in the flow (issue #14): each measuring device's step
begins when the visit's measurement step begins (the blood pressure
preparation, the glucose question), the measurement waits for the device's
baseline, and what the device kept from outside the step reaches the store as
device memory, never as this elder's reading."""

from __future__ import annotations

from datetime import UTC, datetime

from healthkiosk.readings import (
    BloodPressureMeasurement,
    DeviceMemoryRecord,
    GlucoseMeasurement,
    GlucoseUnit,
    MemoryReason,
)
from kiosk.flow.ports import BpValues, GlucoseValues
from kiosk.flow.state import Screen
from tests.support.fake_devices import BpOutcome, GlucoseOutcome, demo_card
from tests.support.flowkit import Harness


async def checked_in(h: Harness) -> None:
    h.flow.start_checkin()
    await h.settle()
    h.reader.present(demo_card())
    await h.screen(Screen.CONFIRM, max_s=1)
    h.flow.confirm()
    await h.settle()


def stored_bp(h: Harness, systolic: int) -> DeviceMemoryRecord:
    m = BloodPressureMeasurement(systolic, 95, 80, device=h.bp.info)
    return DeviceMemoryRecord(m, MemoryReason.STORED_AT_CONNECT, datetime.now(UTC))


def stored_glucose(h: Harness, mmol: float) -> DeviceMemoryRecord:
    m = GlucoseMeasurement(mmol, mmol, GlucoseUnit.MMOL_PER_L, device=h.glucose.info)
    return DeviceMemoryRecord(m, MemoryReason.BEFORE_STEP, datetime.now(UTC))


async def test_blood_pressure_step_begins_at_preparation_and_keeps_device_memory(
    h: Harness,
) -> None:
    h.bp.queue(BpOutcome(128, 82, 70), BpOutcome(130, 84, 72))
    h.bp.stored = [stored_bp(h, 152)]
    await checked_in(h)
    assert h.bp.steps_begun == 0
    h.flow.choose("bp")
    await h.settle()
    assert h.state.screen is Screen.PREP_BP
    assert h.bp.steps_begun == 1
    assert [(role, r.reading.systolic_mmhg, r.reason.value) for role, r in h.recorder.memory] == [
        ("blood_pressure", 152, "stored_at_connect")
    ]
    await h.until(lambda s: s.ready)
    h.flow.start_bp()
    await h.screen(Screen.RESULT)
    [saved] = h.recorder.saved
    assert isinstance(saved.values, BpValues)
    assert [m["systolic"] for m in saved.values.measurements] == [128, 130]
    assert h.bp.steps_begun == 1  # one step for the whole series


async def test_glucose_step_begins_at_the_question_and_never_saves_device_memory(
    h: Harness,
) -> None:
    h.glucose.queue(GlucoseOutcome(6.4))
    h.glucose.stored = [stored_glucose(h, 13.9)]
    await checked_in(h)
    h.flow.choose("glucose")
    await h.settle()
    assert h.state.screen is Screen.GLUCOSE_MEAL and h.glucose.steps_begun == 1
    h.flow.answer_meal("fasting")
    h.flow.start_glucose()
    await h.screen(Screen.RESULT)
    [saved] = h.recorder.saved
    assert isinstance(saved.values, GlucoseValues) and saved.values.mmol_per_l == 6.4
    assert [(role, r.reading.mmol_per_l) for role, r in h.recorder.memory] == [("glucose", 13.9)]
    assert all(r.uuid and r.kind == "glucose" for r in h.recorder.saved)


async def test_each_visit_begins_its_own_step(h: Harness) -> None:
    h.glucose.queue(GlucoseOutcome(6.4), GlucoseOutcome(5.1))
    for _visit in range(2):
        await checked_in(h)
        h.flow.choose("glucose")
        await h.settle()
        h.flow.answer_meal("fasting")
        h.flow.start_glucose()
        await h.screen(Screen.RESULT)
        h.flow.finish()
        await h.screen(Screen.ATTRACT)
    assert h.glucose.steps_begun == 2
