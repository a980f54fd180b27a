"""Weight and BMI: the scale's weight, a height, the BMI classified.

The height is the one the scale sent (a scale with a height rod, or its user
profile), else the resident's height known from an earlier visit here, else
the elder types it on the height screen (cm). The BMI is computed from the
weight and that height (``healthkiosk.readings.body_mass_index``) and
classified with the Chinese adult cut-offs (``rules.bmi``); the weight, the
height and the BMI must be plausible first.
"""

from __future__ import annotations

import asyncio

from healthkiosk.errors import HealthKioskError, ImplausibleValueError
from healthkiosk.readings import WeightMeasurement
from healthkiosk.rules import check_height_plausible, classify_weight
from kiosk.flow.explain import explain_bmi, height_note
from kiosk.flow.ports import HeightSource, WeightValues
from kiosk.flow.state import Screen
from kiosk.flow.vitals import VitalStep

KNOWN_HEIGHT_WAIT_S = 10.0
"""How long the store may take to say the resident's known height."""
HEIGHT_DIGITS = 3
"""A height is typed in whole cm: three digits."""


class Weight(VitalStep):
    kind = "weight"

    async def measure_task(self) -> None:
        ctx = self._ctx
        scale = ctx.devices.weight
        if scale is None:
            ctx.show_error("device_not_found", retry=self.start)
            return
        try:
            m = await scale.measure(timeout_s=ctx.cfg.measure_timeout_s)
        except HealthKioskError as err:
            await ctx.device_failed(err, scale.info.label, retry=self.start)
            return
        if not self.still_measuring():
            return
        ctx.stop_countdown()
        ctx.visit.weight = m
        if m.height_m is not None:
            await self._classify(m, m.height_m, "scale")
            return
        assert ctx.visit.identity is not None
        try:
            known = await asyncio.wait_for(
                ctx.recorder.known_height(ctx.visit.identity), KNOWN_HEIGHT_WAIT_S
            )
        except (HealthKioskError, TimeoutError):
            known = None  # not known in time: the elder types it
        if known is not None:
            await self._classify(m, known, "known")
            return
        ctx.update(screen=Screen.HEIGHT, height_typed="", height_error=False)

    # --- the height screen ---------------------------------------------------

    def key(self, digit: str) -> None:
        ctx = self._ctx
        if ctx.state.screen is not Screen.HEIGHT or not digit.isdigit():
            return
        ctx.touch()
        typed = ctx.state.height_typed
        if len(typed) < HEIGHT_DIGITS:
            ctx.update(height_typed=typed + digit, height_error=False)

    def backspace(self) -> None:
        ctx = self._ctx
        if ctx.state.screen is Screen.HEIGHT:
            ctx.touch()
            ctx.update(height_typed=ctx.state.height_typed[:-1], height_error=False)

    def submit(self) -> None:
        """The typed height (cm): plausible, then the BMI."""
        ctx = self._ctx
        m = ctx.visit.weight
        if ctx.state.screen is not Screen.HEIGHT or m is None:
            return
        ctx.touch()
        typed = ctx.state.height_typed
        height_m = int(typed) / 100 if typed else 0.0
        try:
            check_height_plausible(height_m, ctx.rules.bmi)
        except ImplausibleValueError:
            ctx.update(height_error=True)
            return
        ctx.visit.weight = None  # taken: a second tap on OK does nothing
        ctx.update(screen=Screen.SAVING, height_typed="", height_error=False)
        ctx.spawn(lambda: self._classify(m, height_m, "keypad"), "classify-weight")

    async def _classify(self, m: WeightMeasurement, height_m: float, source: HeightSource) -> None:
        ctx = self._ctx
        rules = ctx.rules.bmi
        try:
            c = classify_weight(m.weight_kg, height_m, rules)
        except ImplausibleValueError as err:
            detail = {
                "weight_kg": m.weight_kg,
                "height_m": height_m,
                "height_source": source,
                "original_value": m.original_value,
                "original_unit": m.original_unit.value,
            }
            await self.refused(m.device, err.reason, detail)
            return
        bmi = float(c.values["bmi"])
        await self.finish(
            device=m.device,
            device_time=m.device_time,
            values=WeightValues(
                weight_kg=float(c.values["weight_kg"]),
                height_m=height_m,
                height_source=source,
                bmi=bmi,
                device_bmi=m.device_bmi,
                original_value=m.original_value,
                original_unit=m.original_unit.value,
            ),
            c=c,
            shown=f"{float(c.values['weight_kg']):.1f}",
            explanation=explain_bmi(c, rules),
            notes=(height_note(height_m),),
        )
