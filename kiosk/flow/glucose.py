"""Glucose: the fasting question, then one measurement from the meter.

The step begins with the fasting question: the meter takes its baseline then
(records made before, by anyone, are kept as device memory, never this
elder's). "Not sure" counts as random. A meter showing LO or HI is classified as such
(no number); a number beyond the plausible limits is kept as a device event
and measured again. The reading is classified by the meal answer, saved,
then shown.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from healthkiosk.errors import HealthKioskError, ImplausibleValueError
from healthkiosk.readings import GlucoseMeasurement, round_tenth
from healthkiosk.rules import (
    Classification,
    check_glucose_plausible,
    classify_glucose,
    classify_glucose_out_of_range,
)
from kiosk.flow.context import FlowContext
from kiosk.flow.explain import advice_glucose, explain_glucose
from kiosk.flow.ports import CompletedReading, GlucoseValues
from kiosk.flow.result import Results
from kiosk.flow.state import GlucoseResult, MealAnswer, Screen


class Glucose:
    def __init__(self, ctx: FlowContext, results: Results) -> None:
        self._ctx = ctx
        self._results = results

    def ask_meal(self) -> None:
        """The fasting question (the first glucose screen)."""
        ctx = self._ctx
        if ctx.devices.glucose is None:
            ctx.show_error("device_not_found", retry=self.ask_meal)
            return
        ctx.visit.glucose_pending = False
        # The step begins: records the meter made before now are nobody's.
        ctx.begin_step("glucose", ctx.devices.glucose)
        ctx.update(screen=Screen.GLUCOSE_MEAL, meal=None, error=None)

    def next_glucose(self) -> None:
        """From a blood pressure result, on to glucose (choice "both")."""
        if not self._results.glucose_pending:
            return
        self._ctx.touch()
        self.ask_meal()

    def answer_meal(self, answer: MealAnswer | None) -> None:
        """Fasting or not; no answer ("not sure") counts as random."""
        ctx = self._ctx
        if ctx.state.screen is not Screen.GLUCOSE_MEAL:
            return
        ctx.touch()
        ctx.update(screen=Screen.PREP_GLUCOSE, meal=answer or "random")

    def back_to_meal(self) -> None:
        """The preparation screen's "back": the question again."""
        self._ctx.update(screen=Screen.GLUCOSE_MEAL)

    def start(self) -> None:
        """The strip is in: measure."""
        ctx = self._ctx
        if ctx.state.screen is not Screen.PREP_GLUCOSE:
            return
        ctx.touch()
        self._measure()

    def _measure(self) -> None:
        ctx = self._ctx
        ctx.update(screen=Screen.MEASURE_GLUCOSE, error=None)
        ctx.start_countdown(ctx.cfg.measure_timeout_s, lambda: None)
        ctx.spawn(self._measure_task, "measure-glucose")

    async def _measure_task(self) -> None:
        ctx = self._ctx
        meter = ctx.devices.glucose
        if meter is None:
            ctx.show_error("device_not_found", retry=self._measure)
            return
        await ctx.step_begun("glucose")
        try:
            m = await meter.measure(timeout_s=ctx.cfg.measure_timeout_s)
        except HealthKioskError as err:
            await ctx.keep_memory("glucose", meter)
            await ctx.device_failed(err, meter.info.label, retry=self._measure)
            return
        await ctx.keep_memory("glucose", meter)
        if ctx.state.screen is not Screen.MEASURE_GLUCOSE:
            return
        ctx.stop_countdown()
        meal: MealAnswer = ctx.state.meal or "random"
        c = await self._classify(m, meal)
        if c is not None:
            await self._finish(m, meal, c)

    async def _classify(self, m: GlucoseMeasurement, meal: MealAnswer) -> Classification | None:
        """LO/HI as such, a number by the meal answer; None (and the error
        screen) for a number beyond the plausible limits."""
        ctx = self._ctx
        rules = ctx.rules.glucose
        if m.out_of_range in ("LO", "HI"):
            return classify_glucose_out_of_range("LO" if m.out_of_range == "LO" else "HI", rules)
        try:
            check_glucose_plausible(round_tenth(m.mmol_per_l), rules)
        except ImplausibleValueError as err:
            detail = {**_glucose_detail(m), "why": err.reason}
            await ctx.record_event(m.device.label, "implausible", detail)
            await ctx.could_not_measure(
                "glucose", err.reason, device=m.device, device_time=m.device_time,
                values={"mmol_per_l": round_tenth(m.mmol_per_l), "meal_context": meal,
                        "original_value": m.original_value,
                        "original_unit": m.original_unit.value},
            )  # fmt: skip
            ctx.show_error("implausible", device=m.device.model, retry=self._measure)
            return None
        return classify_glucose(m.mmol_per_l, meal, rules)

    async def _finish(self, m: GlucoseMeasurement, meal: MealAnswer, c: Classification) -> None:
        ctx = self._ctx
        identity, visit_uuid = ctx.visit.identity, ctx.visit.uuid
        assert identity is not None and visit_uuid is not None
        shown = m.out_of_range if m.out_of_range in ("LO", "HI") else None
        value = None if shown else round_tenth(m.mmol_per_l)
        reading = CompletedReading(
            uuid=str(uuid.uuid4()),
            visit_uuid=visit_uuid,
            kind="glucose",
            measured_at=ctx.clock.now(),
            device_time=m.device_time,
            resident=identity,
            device=m.device,
            values=GlucoseValues(
                mmol_per_l=value,
                meal=meal,
                original_value=None if shown else m.original_value,
                original_unit=m.original_unit.value,
                out_of_range=shown,
            ),
            category=c.category,
            urgent=c.urgent,
            isolated_systolic=None,
            close_to_limit=c.close_to_limit,
            rule=c.rule,
            clock_synced=ctx.clock_synced(),
            rule_set=ctx.rule_set,
        )
        result = GlucoseResult(
            mmol_per_l=value,
            shown=shown,
            meal=meal,
            category=c.category,
            urgent=c.urgent,
            close_to_limit=c.close_to_limit,
            rule=c.rule,
            explanation=explain_glucose(c, ctx.rules.glucose),
            advice=advice_glucose(c),
            saved=False,
        )
        ctx.update(screen=Screen.SAVING)
        if await self._results.save(reading):
            await self._results.show(reading, glucose_result=replace(result, saved=True))


def _glucose_detail(m: GlucoseMeasurement) -> dict[str, Any]:
    """A refused measurement, as kept in the device events."""
    return {
        "mmol_per_l": m.mmol_per_l,
        "original_value": m.original_value,
        "original_unit": m.original_unit.value,
        "sequence_number": m.sequence_number,
    }
