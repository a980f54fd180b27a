"""What the elder is told matches what is recorded (issue #14, findings 6 and 9).

An urgent result carries only the urgent instruction; glucose is rounded once,
halves up; a meter's LO or HI is never a 0.0 on the trend; every reading
names the rule set that classified it.
"""

from __future__ import annotations

import pytest

from healthkiosk.rules import RulesConfig
from kiosk.flow.ports import GlucoseValues
from kiosk.flow.state import Screen
from tests.support.fake_devices import GlucoseOutcome, demo_card
from tests.support.flowkit import Harness


async def _glucose(h: Harness, outcome: GlucoseOutcome, meal: str | None = "after_meal") -> None:
    h.glucose.queue(outcome)
    h.flow.start_checkin()
    await h.settle()
    h.reader.present(demo_card())
    await h.screen(Screen.CONFIRM, max_s=1)
    h.flow.confirm()
    h.flow.choose("glucose")
    h.flow.answer_meal(meal)  # type: ignore[arg-type]
    h.flow.start_glucose()
    await h.screen(Screen.RESULT)


@pytest.mark.parametrize(
    ("value", "category"),
    [(3.5, "very_low"), (3.9, "very_low"), (16.7, "very_high"), (17.5, "very_high")],
)
async def test_an_urgent_glucose_is_never_close_to_the_limit(
    h: Harness, value: float, category: str
) -> None:
    """A random 3.5 is very low and urgent, and within 15 % of 3.9: it carries
    only the urgent instruction, never "near the limit: retest another day"."""
    await _glucose(h, GlucoseOutcome(value))
    g = h.state.glucose_result
    assert g is not None and g.category == category and g.urgent
    assert not g.close_to_limit
    assert not h.recorder.saved[0].close_to_limit


async def test_a_non_urgent_glucose_near_a_boundary_is_still_close_to_the_limit(h: Harness) -> None:
    await _glucose(h, GlucoseOutcome(7.0), meal="fasting")
    g = h.state.glucose_result
    assert g is not None and g.category == "high" and not g.urgent and g.close_to_limit


async def test_glucose_is_rounded_half_up_to_a_tenth(h: Harness) -> None:
    """6.05 fasting is 6.1, impaired fasting (Python's round would say 6.0, normal)."""
    await _glucose(h, GlucoseOutcome(6.05), meal="fasting")
    g = h.state.glucose_result
    assert g is not None and g.mmol_per_l == 6.1 and g.category == "impaired_fasting"
    saved = h.recorder.saved[0].values
    assert isinstance(saved, GlucoseValues) and saved.mmol_per_l == 6.1


@pytest.mark.parametrize("shown", ["LO", "HI"])
async def test_a_meter_lo_or_hi_is_not_drawn_as_zero_on_the_trend(h: Harness, shown: str) -> None:
    await _glucose(h, GlucoseOutcome(0.0, out_of_range=shown))
    g = h.state.glucose_result
    assert g is not None and g.shown == shown and g.urgent
    assert [p for p in h.state.trend if p.kind == "glucose"] == []
    assert all(0.0 not in p.values for p in h.state.trend)


async def test_each_reading_names_the_rule_set_that_classified_it(
    h: Harness, rules: RulesConfig
) -> None:
    from healthkiosk.rules import rule_set_id

    await _glucose(h, GlucoseOutcome(5.2))
    [saved] = h.recorder.saved
    assert saved.rule_set == rule_set_id(rules)
    assert saved.rule_set is not None and len(saved.rule_set.digest) == 64
