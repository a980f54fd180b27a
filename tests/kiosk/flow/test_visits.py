"""Whole visits through the flow on a fake clock (no Kivy)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from healthkiosk.config import KioskConfig
from healthkiosk.idnumber import check_character
from healthkiosk.readings import BloodPressureStatus
from healthkiosk.rules import RulesConfig, average_blood_pressure
from kiosk.flow.ports import BpValues, GlucoseValues
from kiosk.flow.state import Screen
from tests.support.fake_devices import BpOutcome, GlucoseOutcome, demo_card
from tests.support.flowkit import Harness, make_rules, running_harness


def valid_number(region: str = "110105", born: str = "19500101", seq: str = "023") -> str:
    first = region + born + seq
    return first + check_character(first)


async def check_in_with_card(h: Harness) -> None:
    h.flow.start_checkin()
    await h.settle()
    assert h.state.screen is Screen.CHECKIN and h.state.card_reader
    h.reader.present(demo_card())
    await h.screen(Screen.CONFIRM, max_s=1)


async def measure_bp(h: Harness, choice: str = "bp") -> None:
    h.flow.choose(choice)  # type: ignore[arg-type]
    await h.settle()
    assert h.state.screen is Screen.PREP_BP
    await h.until(lambda s: s.ready)
    h.flow.start_bp()


async def test_blood_pressure_visit_with_card(h: Harness) -> None:
    h.bp.queue(BpOutcome(128, 82, 70), BpOutcome(133, 85, 72))
    await check_in_with_card(h)
    st = h.state
    assert st.resident is not None
    assert st.resident.name == "王秀英"
    assert st.resident.masked_id == "110***********" + demo_card().id_number[-4:]
    assert demo_card().id_number not in repr(st)
    h.flow.confirm()
    await h.settle()
    assert h.state.screen is Screen.CHOOSE
    h.flow.choose("bp")
    await h.settle()
    # The rest countdown comes from the rules' protocol (300 s by default).
    assert h.state.screen is Screen.PREP_BP and h.state.countdown_s == 300 and not h.state.ready
    h.flow.start_bp()  # not yet: resting
    assert h.state.screen is Screen.PREP_BP
    rested = await h.until(lambda s: s.ready)
    assert 299.8 <= rested <= 300.3
    h.flow.start_bp()
    await h.settle()
    assert h.state.screen is Screen.MEASURE_BP and h.state.bp_reading_no == 1
    cuffs: list[int] = []
    while h.state.screen is Screen.MEASURE_BP:
        if h.state.cuff_mmhg is not None:
            cuffs.append(h.state.cuff_mmhg)
        await h.clock.advance(0.1)
    assert max(cuffs) >= 128 + 30  # inflated above systolic
    assert cuffs.index(max(cuffs)) < len(cuffs) - 10  # then deflated
    assert h.state.screen is Screen.BP_PAUSE
    assert h.state.bp_taken == ((128, 82, 70),)
    assert h.state.countdown_s == 45
    paused = await h.screen(Screen.MEASURE_BP)
    assert 44.8 <= paused <= 45.3
    assert h.state.bp_reading_no == 2
    await h.screen(Screen.RESULT)
    assert h.recorder.saving == ["saving"]  # saved before the state said saved
    r = h.state.bp_result
    assert r is not None and r.saved
    assert (r.systolic, r.diastolic, r.pulse) == (131, 84, 71)  # 130.5 → 131, 83.5 → 84
    assert r.category == "high_normal" and not r.urgent
    assert r.explanation.key == "explain.bp.systolic_min"
    assert dict(r.explanation.params) == {"value": "131", "threshold": "120"}
    assert r.advice == "advice.bp.high_normal"
    [saved] = h.recorder.saved
    assert saved.kind == "blood_pressure" and saved.resident.id_number == demo_card().id_number
    assert isinstance(saved.values, BpValues) and len(saved.values.measurements) == 2
    assert saved.device.serial == "SIM-BP-0001"
    assert [p.values for p in h.state.trend] == [(131.0, 84.0)]
    h.flow.finish()
    await h.settle()
    assert h.state.screen is Screen.DONE and not h.state.personal
    await h.screen(Screen.ATTRACT, max_s=9)
    assert not h.state.personal
    assert [o for o, _ in h.recorder.visits.values()] == ["completed"]


async def test_third_reading_when_they_differ_by_more_than_configured(h: Harness) -> None:
    h.bp.queue(BpOutcome(120, 80, 70), BpOutcome(131, 80, 70), BpOutcome(125, 79, 70))
    await check_in_with_card(h)
    h.flow.confirm()
    await measure_bp(h)
    await h.until(lambda s: len(s.bp_taken) == 2)
    assert h.state.bp_readings_needed == 3 and h.state.screen is Screen.BP_PAUSE
    await h.screen(Screen.RESULT)
    r = h.state.bp_result
    assert r is not None and len(r.readings) == 3
    assert (r.systolic, r.diastolic) == average_blood_pressure(list(r.readings))[:2]


async def test_no_third_reading_at_exactly_the_configured_difference(h: Harness) -> None:
    h.bp.queue(BpOutcome(120, 80, 70), BpOutcome(130, 90, 70))
    await check_in_with_card(h)
    h.flow.confirm()
    await measure_bp(h)
    await h.screen(Screen.RESULT)
    assert h.state.bp_result is not None and len(h.state.bp_result.readings) == 2
    assert h.bp.measurements_started == 2


@pytest.mark.parametrize("rules", [make_rules(third_if_differ_mmhg=5, pause_s=90, rest_s=10)])
async def test_protocol_values_come_from_configuration(h: Harness) -> None:
    h.bp.queue(BpOutcome(120, 80, 70), BpOutcome(126, 80, 70), BpOutcome(123, 80, 70))
    await check_in_with_card(h)
    h.flow.confirm()
    h.flow.choose("bp")
    await h.settle()
    assert h.state.countdown_s == 10
    await h.until(lambda s: s.ready)
    h.flow.start_bp()
    await h.screen(Screen.BP_PAUSE)
    assert h.state.countdown_s == 90
    await h.until(lambda s: len(s.bp_taken) == 2)
    assert h.state.bp_readings_needed == 3  # 6 > 5


async def test_irregular_pulse_is_kept_and_shown(h: Harness) -> None:
    irregular = BloodPressureStatus(irregular_pulse=True)
    h.bp.queue(BpOutcome(150, 95, 88, irregular), BpOutcome(152, 96, 90))
    await check_in_with_card(h)
    h.flow.confirm()
    await measure_bp(h)
    await h.screen(Screen.RESULT)
    r = h.state.bp_result
    assert r is not None and r.irregular_pulse and r.category == "grade_1"
    assert isinstance(h.recorder.saved[0].values, BpValues)
    assert h.recorder.saved[0].values.irregular_pulse


async def test_urgent_blood_pressure(h: Harness) -> None:
    h.bp.queue(BpOutcome(186, 112, 90), BpOutcome(184, 108, 90))
    await check_in_with_card(h)
    h.flow.confirm()
    await measure_bp(h)
    await h.screen(Screen.RESULT)
    r = h.state.bp_result
    assert r is not None and r.urgent and r.category == "grade_3"
    assert r.advice == "advice.bp.urgent" and h.recorder.saved[0].urgent


async def test_keypad_check_in_validates_as_typed(h: Harness) -> None:
    number = valid_number()
    h.recorder.names[number] = "李建国"
    h.flow.start_checkin()
    await h.settle()
    for ch in number[:10]:
        h.flow.key(ch)
    assert h.state.keypad == number[:10] and h.state.keypad_error is None
    h.flow.key("X")  # only the last character may be X
    assert h.state.keypad_error == "id_x_position" and h.state.keypad == number[:10]
    for ch in number[10:17]:
        h.flow.key(ch)
    wrong = "0" if number[17] != "0" else "1"
    h.flow.key(wrong)
    assert h.state.keypad_error == "id_check_digit" and not h.state.keypad_valid
    h.flow.submit_id()
    await h.settle()
    assert h.state.screen is Screen.CHECKIN
    h.flow.key("5")  # 18 already typed: ignored
    assert len(h.state.keypad) == 18
    h.flow.backspace()
    assert h.state.keypad_error is None and len(h.state.keypad) == 17
    h.flow.key(number[17])
    assert h.state.keypad_valid and h.state.keypad_error is None
    h.flow.submit_id()
    await h.screen(Screen.CONFIRM, max_s=1)
    res = h.state.resident
    assert res is not None and res.name == "李建国" and res.birth_year == 1950
    assert res.masked_id == number[:3] + "*" * 11 + number[-4:]
    assert not h.state.keypad


async def test_unknown_typed_number_confirms_without_a_name(h: Harness) -> None:
    h.flow.start_checkin()
    for ch in valid_number(born="19441231", seq="117"):
        h.flow.key(ch)
    h.flow.submit_id()
    await h.screen(Screen.CONFIRM, max_s=1)
    assert h.state.resident is not None and h.state.resident.name is None
    assert h.state.resident.sex == "male"


async def test_not_me_goes_back_to_check_in(h: Harness) -> None:
    await check_in_with_card(h)
    h.flow.not_me()
    await h.settle()
    assert h.state.screen is Screen.CHECKIN and h.state.resident is None


async def test_bad_card_asks_again(h: Harness) -> None:
    h.flow.start_checkin()
    await h.settle()
    card = demo_card()
    from dataclasses import replace

    h.reader.present(
        replace(
            card,
            id_number=card.id_number[:-1] + "0"
            if card.id_number[-1] != "0"
            else card.id_number[:-1] + "1",
        )
    )
    await h.clock.advance(0.2)
    assert h.state.screen is Screen.CHECKIN and h.state.keypad_error == "card_unreadable"
    h.reader.present(card)
    await h.screen(Screen.CONFIRM, max_s=1)


async def test_glucose_visit_fasting(h: Harness) -> None:
    h.glucose.queue(GlucoseOutcome(6.4))
    await check_in_with_card(h)
    h.flow.confirm()
    h.flow.choose("glucose")
    await h.settle()
    assert h.state.screen is Screen.GLUCOSE_MEAL
    h.flow.answer_meal("fasting")
    assert h.state.screen is Screen.PREP_GLUCOSE and h.state.meal == "fasting"
    h.flow.start_glucose()
    await h.settle()
    assert h.state.screen is Screen.MEASURE_GLUCOSE and h.state.countdown_s == 180
    took = await h.screen(Screen.RESULT)
    assert 8.9 <= took <= 9.3
    g = h.state.glucose_result
    assert g is not None and g.saved and g.mmol_per_l == 6.4 and g.meal == "fasting"
    assert g.category == "impaired_fasting"
    assert dict(g.explanation.params) == {"value": "6.4", "threshold": "6.1"}
    [saved] = h.recorder.saved
    assert isinstance(saved.values, GlucoseValues) and saved.values.meal == "fasting"


async def test_glucose_no_answer_is_random(h: Harness) -> None:
    h.glucose.queue(GlucoseOutcome(6.4))
    await check_in_with_card(h)
    h.flow.confirm()
    h.flow.choose("glucose")
    h.flow.answer_meal(None)
    assert h.state.meal == "random"
    h.flow.start_glucose()
    await h.screen(Screen.RESULT)
    g = h.state.glucose_result
    assert g is not None and g.category == "normal" and g.meal == "random"


@pytest.mark.parametrize(("shown", "category"), [("LO", "very_low"), ("HI", "very_high")])
async def test_meter_lo_hi_shown_as_such_and_urgent(h: Harness, shown: str, category: str) -> None:
    h.glucose.queue(GlucoseOutcome(0.0, out_of_range=shown))
    await check_in_with_card(h)
    h.flow.confirm()
    h.flow.choose("glucose")
    h.flow.answer_meal("after_meal")
    h.flow.start_glucose()
    await h.screen(Screen.RESULT)
    g = h.state.glucose_result
    assert g is not None and g.shown == shown and g.mmol_per_l is None and g.urgent
    assert g.category == category
    assert isinstance(h.recorder.saved[0].values, GlucoseValues)
    assert h.recorder.saved[0].values.out_of_range == shown


async def test_both_measurements_then_both_results(h: Harness) -> None:
    h.bp.queue(BpOutcome(118, 76, 66), BpOutcome(116, 74, 64))
    h.glucose.queue(GlucoseOutcome(5.2))
    await check_in_with_card(h)
    h.flow.confirm()
    await measure_bp(h, "both")
    await h.screen(Screen.RESULT)
    assert h.flow.glucose_pending and h.state.bp_result is not None
    h.flow.next_glucose()
    assert h.state.screen is Screen.GLUCOSE_MEAL
    h.flow.answer_meal("after_meal")
    h.flow.start_glucose()
    await h.screen(Screen.RESULT)
    assert not h.flow.glucose_pending
    assert h.state.bp_result is not None and h.state.glucose_result is not None
    assert [r.kind for r in h.recorder.saved] == ["blood_pressure", "glucose"]
    assert len({r.visit_uuid for r in h.recorder.saved}) == 1
    assert [p.kind for p in h.state.trend] == ["blood_pressure", "glucose"]


async def test_cancel_during_measurement_keeps_nothing_partial(h: Harness) -> None:
    h.bp.queue(BpOutcome(120, 80, 70), BpOutcome(120, 80, 70))
    await check_in_with_card(h)
    h.flow.confirm()
    await measure_bp(h)
    await h.screen(Screen.BP_PAUSE)
    h.flow.cancel()
    await h.settle()
    assert h.state.screen is Screen.CHOOSE and h.state.bp_taken == ()
    await h.clock.advance(60)
    assert h.recorder.saved == [] and h.state.screen is Screen.CHOOSE


async def test_cancel_while_the_cuff_inflates(h: Harness) -> None:
    await check_in_with_card(h)
    h.flow.confirm()
    await measure_bp(h)
    await h.until(lambda s: (s.cuff_mmhg or 0) > 50)
    h.flow.cancel()
    await h.clock.advance(50)
    assert h.state.screen is Screen.CHOOSE and h.recorder.saved == []


async def test_language_switch_on_every_screen(h: Harness) -> None:
    h.flow.set_language("en")
    assert h.state.language == "en"
    await check_in_with_card(h)
    h.flow.set_language("zh_CN")
    assert h.state.language == "zh_CN" and h.state.screen is Screen.CONFIRM


async def test_back_buttons(h: Harness) -> None:
    h.flow.start_checkin()
    h.flow.back()
    await h.settle()
    assert h.state.screen is Screen.ATTRACT
    await check_in_with_card(h)
    h.flow.confirm()
    h.flow.choose("glucose")
    h.flow.answer_meal("fasting")
    h.flow.back()
    assert h.state.screen is Screen.GLUCOSE_MEAL
    h.flow.back()
    assert h.state.screen is Screen.CHOOSE
    h.flow.back()
    assert h.state.screen is Screen.DONE and not h.state.personal


async def test_technician_screen_behind_pin(h: Harness) -> None:
    h.flow.open_technician()
    assert h.state.screen is Screen.TECH_PIN
    for d in "1111":
        h.flow.pin_key(d)
    assert h.state.pin_length == 4
    h.flow.pin_submit()
    assert h.state.pin_error and h.state.screen is Screen.TECH_PIN
    for d in "2468":
        h.flow.pin_key(d)
    h.flow.pin_submit()
    await h.settle()
    assert h.state.screen is Screen.TECHNICIAN
    tech = h.state.tech
    assert tech is not None and tech.version == "test"
    assert [(d.role, d.state) for d in tech.devices] == [
        ("blood_pressure", "ready"),
        ("glucose", "ready"),
        ("id_card", "ready"),
    ]
    h.flow.tech_restart()
    assert h.state.tech is not None and h.state.tech.restart_requested
    h.flow.back()
    assert h.state.screen is Screen.ATTRACT and h.state.tech is None


def _tested(h: Harness) -> bool:
    """The technician's test (or pairing) has started: some snapshot says testing."""
    return any(st.tech is not None and st.tech.testing for st in h.states)


async def test_technician_tests_every_device_and_shows_who_answered(h: Harness) -> None:
    from healthkiosk.errors import DeviceNotFoundError

    h.glucose.check_error = DeviceNotFoundError("no meter in range", device="meter")
    h.flow.open_technician()
    for d in "2468":
        h.flow.pin_key(d)
    h.flow.pin_submit()
    await h.settle()
    h.flow.tech_test()
    await h.until(lambda s: _tested(h) and s.tech is not None and not s.tech.testing, max_s=5)
    tech = h.state.tech
    assert tech is not None and not tech.testing
    seen = {d.role: (d.state, d.detail) for d in tech.devices}
    assert seen["blood_pressure"] == ("ok", "s/n SIM-BP-0001")
    assert seen["glucose"] == ("failed", "device_not_found")
    assert seen["id_card"][0] == "ok"
    assert any(s.tech is not None and s.tech.testing for s in h.states)


async def test_technician_pair_pins_ble_devices_and_says_which_need_none(
    kiosk_config: KioskConfig, rules: RulesConfig
) -> None:
    from healthkiosk.readings import DeviceInfo, Transport

    paired: list[str] = []

    class Monitor:  # a reconnecting BLE monitor without a configured address
        pairable = True
        info = DeviceInfo(model="BPS", transport=Transport.BLE, address="AA:BB:CC:DD:EE:07")

        async def pair(self, *, on_step: Callable[[str], None]) -> DeviceInfo:
            for step in ("looking", "bonding", "done"):
                on_step(step)
            paired.append(self.info.address or "")
            return self.info

    async with running_harness(kiosk_config, rules, blood_pressure=Monitor()) as h:
        h.flow.open_technician()
        for d in "2468":
            h.flow.pin_key(d)
        h.flow.pin_submit()
        await h.settle()
        h.flow.tech_pair()  # first the guidance: nothing is paired yet
        await h.settle()
        tech = h.state.tech
        assert tech is not None and tech.pairing == "guide" and paired == []
        h.flow.tech_pair_start()  # -P- blinks now
        await h.until(lambda s: _tested(h) and s.tech is not None and not s.tech.testing, max_s=5)
        assert any(s.tech is not None and s.tech.pair_step == "bonding" for s in h.states)
        tech = h.state.tech
        assert tech is not None and not tech.testing
        seen = {d.role: (d.state, d.detail) for d in tech.devices}
        assert seen["blood_pressure"] == ("paired", "AA:BB:CC:DD:EE:07 BPS")
        assert seen["glucose"][0] == "not_pairable" and seen["id_card"][0] == "not_pairable"
        assert paired == ["AA:BB:CC:DD:EE:07"]
        assert tech.pairing is None and tech.pair_step == "done" and tech.pair_error == ""


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("bond_lost", "bond_lost"),
        ("pairing_failed", "pairing_failed"),
        ("key_refused", "key_refused"),
        ("not_paired", "not_paired"),
        ("bluetooth_unavailable", "bluetooth_off"),
        ("link_lost", "other"),
    ],
)
async def test_a_failed_pairing_is_said_in_plain_words(
    kiosk_config: KioskConfig, rules: RulesConfig, reason: str, words: str
) -> None:
    from healthkiosk.errors import DeviceConnectionError
    from healthkiosk.readings import DeviceInfo, Transport
    from kiosk.app.i18n import text

    class Monitor:
        pairable = True
        info = DeviceInfo(model="HEM-7361T", transport=Transport.BLE, address="AA:BB:CC:DD:EE:08")

        async def pair(self, *, on_step: Callable[[str], None]) -> DeviceInfo:
            on_step("looking")
            raise DeviceConnectionError("refused", device="HEM-7361T", reason=reason)

    async with running_harness(kiosk_config, rules, blood_pressure=Monitor()) as h:
        h.flow.open_technician()
        for d in "2468":
            h.flow.pin_key(d)
        h.flow.pin_submit()
        await h.settle()
        h.flow.tech_pair()
        await h.settle()
        h.flow.tech_pair_start()
        await h.until(lambda s: _tested(h) and s.tech is not None and not s.tech.testing, max_s=5)
        tech = h.state.tech
        assert tech is not None
        seen = {d.role: (d.state, d.detail) for d in tech.devices}
        assert seen["blood_pressure"] == ("failed", reason)
        assert tech.pair_error == words
        # the words exist in both languages, Chinese first on the screen
        assert text("zh_CN", f"pair.error.{words}") != text("en", f"pair.error.{words}")


async def test_pairing_guidance_can_be_left_without_pairing(
    kiosk_config: KioskConfig, rules: RulesConfig
) -> None:
    async with running_harness(kiosk_config, rules) as h:
        h.flow.open_technician()
        for d in "2468":
            h.flow.pin_key(d)
        h.flow.pin_submit()
        await h.settle()
        h.flow.tech_pair()
        await h.settle()
        assert h.state.tech is not None and h.state.tech.pairing == "guide"
        h.flow.tech_pair_cancel()
        await h.settle()
        assert h.state.tech is not None and h.state.tech.pairing is None
        assert not _tested(h)


async def test_technician_test_against_a_driver_that_reconnects() -> None:
    """The reconnecting wrapper's test closes the old link and opens a new one."""
    from contextlib import asynccontextmanager

    from healthkiosk.errors import DeviceNotFoundError
    from healthkiosk.readings import DeviceInfo, Transport
    from kiosk.reconnect import ReconnectingGlucoseMeter

    opened: list[int] = []
    present = [True]

    class Meter:
        info = DeviceInfo(model="Meter", transport=Transport.BLE, serial="S1")

    @asynccontextmanager
    async def opener():  # type: ignore[no-untyped-def]
        if not present[0]:
            raise DeviceNotFoundError("not in range")
        opened.append(1)
        yield Meter()

    meter = ReconnectingGlucoseMeter(opener, name="ble-glucose-standard", transport="ble")
    assert (await meter.check()).serial == "S1"
    assert (await meter.check()).serial == "S1" and len(opened) == 2
    present[0] = False
    with pytest.raises(DeviceNotFoundError):
        await meter.check()
    assert meter.state == "missing"


def test_valid_number_helper() -> None:
    from healthkiosk.idnumber import parse

    assert parse(valid_number()).birth_date == date(1950, 1, 1)
