"""Each reading carries the kiosk's clock state when it was made; an
unsynchronised clock never stops a reading from being kept."""

from __future__ import annotations

from healthkiosk.config import KioskConfig
from healthkiosk.rules import RulesConfig
from kiosk.flow.state import Screen
from tests.support.fake_devices import BpOutcome, GlucoseOutcome, demo_card
from tests.support.flowkit import Harness, running_harness


async def _check_in(h: Harness) -> None:
    h.flow.start_checkin()
    await h.settle()
    h.reader.present(demo_card())
    await h.screen(Screen.CONFIRM, max_s=1)
    h.flow.confirm()


async def test_readings_are_marked_with_the_clock_state_when_made(
    kiosk_config: KioskConfig, rules: RulesConfig
) -> None:
    synced = [False]
    async with running_harness(kiosk_config, rules, clock_synced=lambda: synced[0]) as h:
        h.bp.queue(BpOutcome(118, 76, 66), BpOutcome(116, 74, 64))
        h.glucose.queue(GlucoseOutcome(5.2))
        await _check_in(h)
        h.flow.choose("both")
        await h.until(lambda s: s.ready)
        h.flow.start_bp()
        await h.screen(Screen.RESULT)  # saved and shown: the clock is not a reason to refuse
        synced[0] = True  # NTP answered meanwhile
        h.flow.next_glucose()
        h.flow.answer_meal("after_meal")
        h.flow.start_glucose()
        await h.until(lambda s: s.glucose_result is not None)
        assert [(r.kind, r.clock_synced) for r in h.recorder.saved] == [
            ("blood_pressure", False),
            ("glucose", True),
        ]


async def test_without_a_clock_state_readings_say_not_known(h: Harness) -> None:
    h.glucose.queue(GlucoseOutcome(5.2))
    await _check_in(h)
    h.flow.choose("glucose")
    h.flow.answer_meal("fasting")
    h.flow.start_glucose()
    await h.screen(Screen.RESULT)
    assert [r.clock_synced for r in h.recorder.saved] == [None]
