"""Every error state of the flow: plain-words key, a way forward, never a reading."""

from __future__ import annotations

import pytest

from healthkiosk.config import KioskConfig
from healthkiosk.errors import (
    DeviceConnectionError,
    DeviceError,
    DeviceNotFoundError,
    MeasurementError,
    MeasurementProblem,
    ProtocolError,
)
from healthkiosk.readings import BloodPressureStatus
from healthkiosk.rules import RulesConfig
from kiosk.flow import Devices
from kiosk.flow.state import Screen
from kiosk.flow.visit import VisitFlow
from tests.support.fake_devices import BpOutcome, GlucoseOutcome, demo_card
from tests.support.flowkit import Harness


async def ready_to_choose(h: Harness) -> None:
    h.flow.start_checkin()
    await h.settle()
    h.reader.present(demo_card())
    await h.screen(Screen.CONFIRM, max_s=1)
    h.flow.confirm()


async def start_bp(h: Harness) -> None:
    h.flow.choose("bp")
    await h.until(lambda s: s.ready)
    h.flow.start_bp()


async def start_glucose(h: Harness) -> None:
    h.flow.choose("glucose")
    h.flow.answer_meal("fasting")
    h.flow.start_glucose()


@pytest.mark.parametrize(
    ("status", "key"),
    [
        (BloodPressureStatus(body_movement=True), "body_movement"),
        (BloodPressureStatus(cuff_too_loose=True), "cuff_fit"),
        (BloodPressureStatus(improper_position=True), "improper_position"),
    ],
)
async def test_flagged_reading_is_discarded_and_taken_again(
    h: Harness, status: BloodPressureStatus, key: str
) -> None:
    h.bp.queue(BpOutcome(150, 90, 70, status), BpOutcome(122, 78, 70), BpOutcome(124, 80, 70))
    await ready_to_choose(h)
    await start_bp(h)
    await h.screen(Screen.ERROR)
    err = h.state.error
    assert err is not None and err.key == key and err.actions == ("retry", "choose", "finish")
    assert h.state.notice == key and h.state.bp_taken == ()
    assert [e[1] for e in h.recorder.events] == [key]
    h.flow.retry()
    await h.settle()
    assert h.state.screen is Screen.MEASURE_BP and h.state.bp_reading_no == 1
    await h.screen(Screen.RESULT)
    r = h.state.bp_result
    assert r is not None and r.readings == ((122, 78, 70), (124, 80, 70))
    assert len(h.recorder.saved) == 1


@pytest.mark.parametrize(
    ("outcome", "key"),
    [
        (BpOutcome(80, 95, 70), "implausible"),  # systolic not above diastolic
        (BpOutcome(320, 95, 70), "implausible"),
        (BpOutcome(140, 90, 250), "implausible"),  # pulse
    ],
)
async def test_implausible_reading_is_a_device_event_not_a_reading(
    h: Harness, outcome: BpOutcome, key: str
) -> None:
    h.bp.queue(outcome)
    await ready_to_choose(h)
    await start_bp(h)
    await h.screen(Screen.ERROR)
    assert h.state.error is not None and h.state.error.key == key
    assert h.recorder.saved == [] and h.recorder.events[0][1] == "implausible"


@pytest.mark.parametrize(
    ("error", "at", "key", "actions"),
    [
        (
            DeviceConnectionError("link lost"),
            "deflating",
            "link_lost",
            ("retry", "choose", "finish"),
        ),
        (DeviceNotFoundError("no monitor"), "start", "device_not_found", ("retry", "finish")),
        (
            DeviceError("radio off", reason="bluetooth_off"),
            "start",
            "bluetooth_off",
            ("retry", "finish"),
        ),
        (
            DeviceNotFoundError("not paired", reason="not_paired"),
            "start",
            "not_paired",
            ("retry", "finish"),
        ),
        (
            MeasurementError("E2", problem=MeasurementProblem.CUFF_FIT),
            "deflating",
            "cuff_fit",
            ("retry", "choose", "finish"),
        ),
        (
            MeasurementError("E1", problem=MeasurementProblem.BODY_MOVEMENT),
            "deflating",
            "body_movement",
            ("retry", "choose", "finish"),
        ),
        (
            ProtocolError("garbage", raw=b"\x00"),
            "deflating",
            "device_error",
            ("retry", "choose", "finish"),
        ),
    ],
)
async def test_blood_pressure_device_errors(
    h: Harness, error: DeviceError, at: str, key: str, actions: tuple[str, ...]
) -> None:
    h.bp.queue(BpOutcome(130, 85, 70, error=error, error_at=at), BpOutcome(120, 80, 70))
    await ready_to_choose(h)
    await start_bp(h)
    await h.screen(Screen.ERROR)
    assert h.state.error is not None
    assert (h.state.error.key, h.state.error.actions) == (key, actions)
    assert h.state.cuff_mmhg is None and h.recorder.saved == []
    h.flow.retry()
    await h.until(lambda s: len(s.bp_taken) == 1)
    assert h.state.bp_taken == ((120, 80, 70),)


async def test_monitor_never_started_times_out(h: Harness) -> None:
    h.bp.queue(BpOutcome(never_started=True))
    await ready_to_choose(h)
    await start_bp(h)
    took = await h.screen(Screen.ERROR)
    assert 179 <= took <= 181
    assert h.state.error is not None and h.state.error.key == "device_timeout"


@pytest.mark.parametrize(
    ("outcome", "key"),
    [
        (
            GlucoseOutcome(error=MeasurementError("E-3", problem=MeasurementProblem.STRIP_ERROR)),
            "strip_error",
        ),
        (
            GlucoseOutcome(error=MeasurementError("temp", problem=MeasurementProblem.OUT_OF_RANGE)),
            "out_of_range",
        ),
        (GlucoseOutcome(error=DeviceConnectionError("gone")), "link_lost"),
        (GlucoseOutcome(40.0), "implausible"),
        (GlucoseOutcome(never_applied=True), "device_timeout"),
    ],
)
async def test_glucose_errors(h: Harness, outcome: GlucoseOutcome, key: str) -> None:
    h.glucose.queue(outcome, GlucoseOutcome(5.5))
    await ready_to_choose(h)
    await start_glucose(h)
    await h.screen(Screen.ERROR)
    assert h.state.error is not None and h.state.error.key == key
    assert h.state.error.actions == ("retry", "choose", "finish")
    assert h.recorder.saved == []
    h.flow.retry()
    await h.screen(Screen.RESULT)
    assert h.state.glucose_result is not None and h.state.glucose_result.mmol_per_l == 5.5


async def test_store_full_never_says_saved(h: Harness) -> None:
    h.recorder.full = True
    h.glucose.queue(GlucoseOutcome(5.5))
    await ready_to_choose(h)
    await start_glucose(h)
    await h.screen(Screen.ERROR)
    assert h.state.error is not None and h.state.error.key == "store_full"
    assert h.state.error.actions == ("finish",)
    assert h.state.glucose_result is None
    assert all(s.glucose_result is None for s in h.states)
    h.flow.finish()
    await h.settle()
    assert h.state.screen is Screen.DONE and not h.state.personal


async def test_error_choose_goes_back_to_the_choice(h: Harness) -> None:
    h.glucose.queue(GlucoseOutcome(error=DeviceConnectionError("gone")))
    await ready_to_choose(h)
    await start_glucose(h)
    await h.screen(Screen.ERROR)
    h.flow.cancel()
    assert h.state.screen is Screen.CHOOSE and h.state.error is None


async def test_missing_devices(h: Harness, kiosk_config: KioskConfig, rules: RulesConfig) -> None:
    flow = VisitFlow(
        config=kiosk_config,
        rules=rules,
        devices=Devices(),
        recorder=h.recorder,
        clock=h.clock,
    )
    import asyncio

    task = asyncio.create_task(flow.run())
    await h.settle()
    flow.start_checkin()
    await h.settle()
    assert flow.state.screen is Screen.CHECKIN and not flow.state.card_reader
    number = demo_card().id_number
    for ch in number:
        flow.key(ch)
    flow.submit_id()
    await h.settle()
    flow.confirm()
    flow.choose("bp")
    assert flow.state.error is not None and flow.state.error.key == "device_not_found"
    assert flow.state.error.actions == ("retry", "finish")
    flow.retry()
    assert flow.state.screen is Screen.ERROR
    flow.finish()
    flow.close()
    await h.clock.advance(1)
    await task


async def test_card_reader_failure_falls_back_to_keypad(h: Harness) -> None:
    h.flow.start_checkin()
    await h.settle()
    h.reader.present(DeviceConnectionError("unplugged"))
    await h.clock.advance(0.2)
    assert h.state.screen is Screen.CHECKIN and not h.state.card_reader


async def test_an_implausible_pressure_reaches_the_doctor_as_could_not_measure(h: Harness) -> None:
    """Issue 14, finding 9: a value the rules refuse is not silence: the flow
    hands it to the store as a device event that goes to the doctor."""
    h.bp.queue(BpOutcome(320, 95, 70))
    await ready_to_choose(h)
    await start_bp(h)
    await h.screen(Screen.ERROR)
    [event] = h.recorder.could_not_measure
    assert (event.measurement, event.reason) == ("blood_pressure", "systolic_out_of_range")
    assert (event.values["systolic"], event.values["diastolic"]) == (320, 95)
    assert event.resident.id_number == demo_card().id_number and event.visit_uuid
    assert h.recorder.saved == []


async def test_an_out_of_range_glucose_reaches_the_doctor_as_could_not_measure(
    h: Harness,
) -> None:
    """0.9 mmol/L on a meter that reads down to 0.6: "reading looks wrong" for
    the elder, "could not measure: 0.9 mmol/L reported" for the doctor."""
    h.glucose.queue(GlucoseOutcome(0.9))
    h.flow.start_checkin()
    await h.settle()
    h.reader.present(demo_card())
    await h.screen(Screen.CONFIRM, max_s=1)
    h.flow.confirm()
    h.flow.choose("glucose")
    h.flow.answer_meal("fasting")
    h.flow.start_glucose()
    await h.screen(Screen.ERROR)
    [event] = h.recorder.could_not_measure
    assert (event.measurement, event.reason) == ("glucose", "glucose_out_of_range")
    assert event.values["mmol_per_l"] == 0.9 and event.values["meal_context"] == "fasting"
    assert h.recorder.saved == []
