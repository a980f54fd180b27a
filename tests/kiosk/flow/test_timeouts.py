"""Inactivity, "still here?" (the result screen too, after longer), done timeouts (fake clock)."""

from __future__ import annotations

import pytest

from healthkiosk.config import KioskConfig
from kiosk.flow.state import Screen
from tests.support.fake_devices import BpOutcome, GlucoseOutcome, demo_card
from tests.support.flowkit import Harness, make_rules


async def checked_in(h: Harness) -> None:
    h.flow.start_checkin()
    await h.settle()
    h.reader.present(demo_card())
    await h.screen(Screen.CONFIRM, max_s=1)


@pytest.mark.parametrize("screen", ["checkin", "confirm", "choose", "glucose_meal", "prep_glucose"])
async def test_idle_screens_ask_still_here_then_reset(h: Harness, screen: str) -> None:
    h.flow.start_checkin()
    await h.settle()
    if screen != "checkin":
        h.reader.present(demo_card())
        await h.screen(Screen.CONFIRM, max_s=1)
    if screen in ("choose", "glucose_meal", "prep_glucose"):
        h.flow.confirm()
    if screen in ("glucose_meal", "prep_glucose"):
        h.flow.choose("glucose")
    if screen == "prep_glucose":
        h.flow.answer_meal("fasting")
    assert h.state.screen.value == screen
    waited = await h.until(lambda s: s.still_here_s is not None)
    assert 59.8 <= waited <= 60.3
    assert h.state.still_here_s == 20 and h.state.screen.value == screen
    gone = await h.screen(Screen.ATTRACT)
    assert 19.7 <= gone <= 20.3
    assert not h.state.personal and h.state.still_here_s is None


async def test_still_here_button_keeps_the_visit(h: Harness) -> None:
    await checked_in(h)
    await h.until(lambda s: s.still_here_s is not None)
    await h.clock.advance(15)
    assert h.state.still_here_s is not None and h.state.still_here_s <= 5
    h.flow.still_here()
    assert h.state.still_here_s is None
    await h.clock.advance(59)
    assert h.state.screen is Screen.CONFIRM and h.state.still_here_s is None
    await h.clock.advance(2)
    assert h.state.still_here_s == 20


async def test_touches_postpone_the_question(h: Harness) -> None:
    await checked_in(h)
    for _ in range(5):
        await h.clock.advance(50)
        h.flow.touch()
    assert h.state.still_here_s is None and h.state.screen is Screen.CONFIRM


async def test_never_while_a_measurement_runs(h: Harness) -> None:
    # A monitor that deflates slowly: the measurement outlasts the idle timeout.
    h.bp._speed = 0.3
    h.bp.queue(BpOutcome(150, 90, 70), BpOutcome(150, 90, 70))
    await checked_in(h)
    h.flow.confirm()
    h.flow.choose("bp")
    await h.settle()
    seen = []
    while not h.state.ready:  # a 300 s rest: longer than idle_timeout_s
        await h.clock.advance(1)
        seen.append(h.state.still_here_s)
    h.flow.start_bp()
    while h.state.screen is not Screen.RESULT:
        await h.clock.advance(0.5)
        seen.append(h.state.still_here_s)
    assert set(seen) == {None}
    assert h.bp.measurements_started == 2


async def glucose_result(h: Harness) -> None:
    h.glucose.queue(GlucoseOutcome(5.0))
    await checked_in(h)
    h.flow.confirm()
    h.flow.choose("glucose")
    h.flow.answer_meal("fasting")
    h.flow.start_glucose()
    await h.screen(Screen.RESULT)


async def test_result_asks_still_here_then_done_then_attract(h: Harness) -> None:
    await glucose_result(h)
    # Time to read the result (result_timeout_s), then the same question as elsewhere.
    asked = await h.until(lambda s: s.still_here_s is not None)
    assert 44.7 <= asked <= 45.3
    assert h.state.screen is Screen.RESULT and h.state.still_here_s == 20
    assert h.state.glucose_result is not None  # the result stays readable behind it
    h.flow.touch()  # a touch beside the button does not answer it
    to_done = await h.screen(Screen.DONE)
    assert 19.7 <= to_done <= 20.3
    assert not h.state.personal and h.state.still_here_s is None
    to_attract = await h.screen(Screen.ATTRACT)
    assert 7.7 <= to_attract <= 8.3
    assert [o for o, _ in h.recorder.visits.values()] == ["completed"]


async def test_still_here_on_the_result_keeps_it(h: Harness) -> None:
    await glucose_result(h)
    await h.until(lambda s: s.still_here_s is not None)
    await h.clock.advance(15)
    h.flow.still_here()
    assert h.state.screen is Screen.RESULT and h.state.still_here_s is None
    await h.clock.advance(44)  # a full result_timeout_s again before the next question
    assert h.state.screen is Screen.RESULT and h.state.still_here_s is None
    await h.clock.advance(2)
    assert h.state.still_here_s == 20
    h.flow.finish()
    assert h.state.screen is Screen.DONE
    await h.settle()
    assert [o for o, _ in h.recorder.visits.values()] == ["completed"]


async def test_abandoned_visit_keeps_what_was_complete(h: Harness) -> None:
    h.bp.queue(BpOutcome(125, 82, 70), BpOutcome(127, 84, 70))
    await checked_in(h)
    h.flow.confirm()
    h.flow.choose("both")
    await h.until(lambda s: s.ready)
    h.flow.start_bp()
    await h.screen(Screen.RESULT)
    h.flow.next_glucose()
    assert h.state.screen is Screen.GLUCOSE_MEAL
    await h.screen(Screen.ATTRACT)  # walked away: idle, still here?, reset
    assert [r.kind for r in h.recorder.saved] == ["blood_pressure"]
    assert [o for o, _ in h.recorder.visits.values()] == ["timeout"]
    assert not h.state.personal


async def test_error_screen_times_out_too(h: Harness) -> None:
    from healthkiosk.errors import DeviceConnectionError

    h.glucose.queue(GlucoseOutcome(error=DeviceConnectionError("gone")))
    await checked_in(h)
    h.flow.confirm()
    h.flow.choose("glucose")
    h.flow.answer_meal(None)
    h.flow.start_glucose()
    await h.screen(Screen.ERROR)
    waited = await h.screen(Screen.ATTRACT)
    assert 79.7 <= waited <= 80.5


async def test_technician_screen_times_out(h: Harness) -> None:
    h.flow.open_technician()
    waited = await h.screen(Screen.ATTRACT)
    assert 79.7 <= waited <= 80.5


@pytest.mark.parametrize(
    "kiosk_config", [KioskConfig(idle_timeout_s=30, still_here_s=25, result_timeout_s=10, done_s=3)]
)
@pytest.mark.parametrize("rules", [make_rules(rest_s=0, pause_s=0)])
async def test_timeouts_come_from_configuration(h: Harness) -> None:
    await checked_in(h)
    assert await h.until(lambda s: s.still_here_s is not None) == pytest.approx(30, abs=0.3)
    assert h.state.still_here_s == 25
    h.flow.still_here()
    h.flow.confirm()
    h.flow.choose("bp")
    await h.settle()
    assert h.state.ready and h.state.countdown_s is None  # rest_s = 0
    h.flow.start_bp()
    await h.screen(Screen.RESULT)
    assert await h.until(lambda s: s.still_here_s is not None) == pytest.approx(10, abs=0.3)
    assert await h.screen(Screen.DONE) == pytest.approx(25, abs=0.3)
    assert await h.screen(Screen.ATTRACT) == pytest.approx(3, abs=0.3)


def test_still_here_is_at_least_20_seconds() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        KioskConfig(still_here_s=19)
