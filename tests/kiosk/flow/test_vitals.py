"""Weight with BMI, oxygen saturation and temperature in the visit
(kiosk/flow/vitals.py, weight.py, oximetry.py, temperature.py): the choice,
the height from the scale, an earlier visit or the keypad, the classification
under the rules, saving before showing, "Next" through the three, the summary
(the urgent SpO2 first), device errors and implausible values."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from healthkiosk.config import KioskConfig
from healthkiosk.errors import DeviceError
from healthkiosk.rules import RulesConfig
from kiosk.flow.clock import FakeClock
from kiosk.flow.ports import Spo2Values, TemperatureValues, WeightValues
from kiosk.flow.printing import result_of
from kiosk.flow.state import Screen
from tests.support.fake_devices import (
    FakeVitalDevice,
    demo_card,
    fake_oximeter,
    fake_scale,
    fake_thermometer,
    oximetry,
    temperature,
    weight,
)
from tests.support.flowkit import Harness, running_harness


class Vitals:
    def __init__(self, h: Harness, scale: FakeVitalDevice, ox: FakeVitalDevice,
                 th: FakeVitalDevice) -> None:  # fmt: skip
        self.h, self.scale, self.ox, self.th = h, scale, ox, th


@pytest.fixture
async def v(kiosk_config: KioskConfig, rules: RulesConfig) -> AsyncIterator[Vitals]:
    clock = FakeClock()
    scale, ox, th = fake_scale(clock), fake_oximeter(clock), fake_thermometer(clock)
    async with running_harness(
        kiosk_config, rules, clock=clock, weight=scale, pulse_oximeter=ox, thermometer=th
    ) as h:
        yield Vitals(h, scale, ox, th)


async def checked_in(h: Harness) -> None:
    h.flow.start_checkin()
    await h.settle()
    h.reader.present(demo_card())  # born 1948: an elder
    await h.screen(Screen.CONFIRM, max_s=1)
    h.flow.confirm()
    await h.screen(Screen.CHOOSE, max_s=1)


async def result(h: Harness) -> None:
    await h.until(lambda s: s.screen is Screen.RESULT or s.screen is Screen.ERROR)


async def test_all_three_one_after_the_other_end_on_the_summary_urgent_first(v: Vitals) -> None:
    h = v.h
    v.scale.queue(weight(68.4, height_m=1.65, device=v.scale))
    v.ox.queue(oximetry(88, 104, device=v.ox))
    v.th.queue(temperature(37.5, device=v.th))
    await checked_in(h)
    assert h.flow.can_measure("vitals")
    h.flow.choose("vitals")
    assert h.state.screen is Screen.MEASURE_WEIGHT
    await result(h)
    r = h.state.vital_result
    assert r is not None and r.saved
    # 68.4 / 1.65² = 25.12: overweight from 24.0 (WS/T 428-2013)
    assert (r.kind, r.shown, r.category, r.urgent) == ("weight", "68.4", "overweight", False)
    assert r.explanation.key == "explain.bmi.at_least"
    assert r.explanation.as_dict() == {"bmi": "25.1", "threshold": "24.0"}
    assert [n.as_dict() for n in r.notes] == [{"height": "165"}]
    assert r.advice == "advice.weight.overweight"
    assert h.flow.vitals_pending
    h.flow.next_vital()
    assert h.state.screen is Screen.MEASURE_SPO2
    await result(h)
    r = h.state.vital_result
    assert r is not None
    assert (r.kind, r.shown, r.category, r.urgent) == ("spo2", "88", "very_low", True)
    assert r.advice == "advice.spo2.urgent"
    assert r.explanation.as_dict() == {"value": "88", "threshold": "90"}
    h.flow.next_vital()
    await result(h)
    r = h.state.vital_result
    assert r is not None
    assert (r.kind, r.shown, r.category, r.urgent) == ("temperature", "37.5", "low_fever", False)
    assert not h.flow.vitals_pending
    assert h.flow.summary_next
    h.flow.finish()
    assert h.state.screen is Screen.SUMMARY
    assert [(i.kind, i.shown, i.category, i.urgent) for i in h.state.summary] == [
        ("spo2", "88", "very_low", True),
        ("weight", "68.4", "overweight", False),
        ("temperature", "37.5", "low_fever", False),
    ]
    saved = h.recorder.saved
    assert [r.kind for r in saved] == ["weight", "spo2", "temperature"]
    assert saved[0].values == WeightValues(68.4, 1.65, "scale", 25.1, None, 68.4, "kg")
    assert saved[1].values == Spo2Values(88, 104, "spot_check", None)
    assert saved[2].values == TemperatureValues(37.5, 37.5, "C", "armpit")
    assert [r.category for r in saved] == ["overweight", "very_low", "low_fever"]
    assert all(r.visit_uuid == saved[0].visit_uuid for r in saved)
    # Each was saved before its result said so.
    assert h.recorder.saving == ["saving", "saving", "saving"]


async def test_no_height_from_the_scale_is_typed_then_known_next_time(v: Vitals) -> None:
    h = v.h
    v.scale.queue(weight(50.0, device=v.scale), weight(51.0, device=v.scale))
    await checked_in(h)
    h.flow.choose("weight")
    await h.screen(Screen.HEIGHT)
    for d in "9":  # 9 cm is not a height
        h.flow.height_key(d)
    h.flow.submit_height()
    assert h.state.height_error and h.state.screen is Screen.HEIGHT
    h.flow.height_backspace()
    for d in "1605":  # the fourth digit is not taken
        h.flow.height_key(d)
    assert h.state.height_typed == "160" and not h.state.height_error
    h.flow.submit_height()
    h.flow.submit_height()  # a second tap: one reading only
    await result(h)
    r = h.state.vital_result
    assert r is not None and (r.shown, r.category) == ("50.0", "normal")  # BMI 19.5
    assert r.explanation.as_dict() == {"bmi": "19.5", "low": "18.5", "high": "24.0"}
    assert len(h.recorder.saved) == 1
    assert h.recorder.saved[-1].values.height_source == "keypad"  # type: ignore[union-attr]
    # Another visit of the same resident: the height is known, not asked again.
    h.flow.finish()
    await h.screen(Screen.ATTRACT, max_s=30)
    await checked_in(h)
    h.flow.choose("weight")
    await result(h)
    assert h.state.screen is Screen.RESULT
    last = h.recorder.saved[-1].values
    assert isinstance(last, WeightValues)
    assert (last.height_m, last.height_source, last.bmi) == (1.6, "known", 19.9)


async def test_a_device_error_offers_try_again_and_gives_no_reading(v: Vitals) -> None:
    h = v.h
    v.ox.queue(DeviceError("weak signal", reason="unstable"), oximetry(97, 70, device=v.ox))
    await checked_in(h)
    h.flow.choose("spo2")
    await result(h)
    assert h.state.screen is Screen.ERROR
    assert h.state.error is not None and "retry" in h.state.error.actions
    assert h.recorder.saved == []
    h.flow.retry()
    await result(h)
    r = h.state.vital_result
    assert r is not None and (r.shown, r.category, r.urgent) == ("97", "normal", False)
    assert [n.as_dict() for n in r.notes] == [{"pulse": "70"}]


async def test_an_implausible_value_is_a_device_event_not_a_reading(v: Vitals) -> None:
    h = v.h
    v.th.queue(temperature(45.5, device=v.th), temperature(39.4, device=v.th))
    await checked_in(h)
    h.flow.choose("temperature")
    await result(h)
    assert h.state.screen is Screen.ERROR and h.state.error is not None
    assert h.state.error.key == "implausible"
    assert h.recorder.saved == []
    ((_, kind, detail),) = h.recorder.events
    assert kind == "implausible" and detail["why"] == "temperature_out_of_range"
    h.flow.retry()
    await result(h)
    r = h.state.vital_result
    # 39.4 °C: high fever, urgent for an elder (the card's resident was born in 1948)
    assert r is not None and (r.category, r.urgent, r.advice) == (
        "high_fever", True, "advice.temperature.urgent",
    )  # fmt: skip


async def test_cancel_while_measuring_keeps_nothing(v: Vitals) -> None:
    h = v.h
    v.scale.queue(weight(70.0, height_m=1.7, device=v.scale))
    await checked_in(h)
    h.flow.choose("weight")
    h.flow.cancel()
    await h.clock.advance(10)
    assert h.state.screen is Screen.CHOOSE
    assert h.recorder.saved == []


async def test_a_station_without_the_devices_does_not_offer_them(
    kiosk_config: KioskConfig, rules: RulesConfig
) -> None:
    async with running_harness(kiosk_config, rules) as h:
        assert not h.flow.can_measure("vitals")
        assert not h.flow.can_measure("weight")
        assert h.flow.can_measure("bp")
        await checked_in(h)
        h.flow.choose("temperature")
        assert h.state.screen is Screen.ERROR
        assert h.state.error is not None and h.state.error.key == "device_not_found"


def test_the_slip_carries_the_bmi_and_height() -> None:
    from kiosk.flow.state import Explanation, VitalResult

    r = VitalResult(
        kind="weight", shown="68.4", category="overweight", urgent=False, rule="bmi.overweight",
        explanation=Explanation("explain.bmi.at_least", (("bmi", "25.1"), ("threshold", "24.0"))),
        advice="advice.weight.overweight", saved=True,
        notes=(Explanation("result.height", (("height", "165"),)),),
    )  # fmt: skip
    slip = result_of(r)
    assert (slip.kind, slip.value, slip.category) == ("weight", "68.4", "overweight")
    assert slip.lines == (
        ("explain.bmi.at_least", (("bmi", "25.1"), ("threshold", "24.0"))),
        ("result.height", (("height", "165"),)),
    )
