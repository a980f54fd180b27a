"""Body temperature: the thermometer's next reading, in °C.

Classified with the fever grades (``rules.temperature``); a high fever is
urgent for an elder (from ``high_fever_urgent_from_age``, and when the age is
not known). The site the thermometer reports travels with the reading.
"""

from __future__ import annotations

from healthkiosk.errors import HealthKioskError, ImplausibleValueError
from healthkiosk.rules import classify_temperature
from healthkiosk.rules.status import age_on
from kiosk.flow.explain import explain_temperature
from kiosk.flow.ports import TemperatureValues
from kiosk.flow.vitals import VitalStep


class Temperature(VitalStep):
    kind = "temperature"

    async def measure_task(self) -> None:
        ctx = self._ctx
        thermometer = ctx.devices.thermometer
        if thermometer is None:
            ctx.show_error("device_not_found", retry=self.start)
            return
        try:
            m = await thermometer.measure(timeout_s=ctx.cfg.measure_timeout_s)
        except HealthKioskError as err:
            await ctx.device_failed(err, thermometer.info.label, retry=self.start)
            return
        if not self.still_measuring():
            return
        ctx.stop_countdown()
        rules = ctx.rules.temperature
        identity = ctx.visit.identity
        assert identity is not None
        age = age_on(identity.birth_date, ctx.clock.now().date())
        try:
            c = classify_temperature(m.celsius, rules, age=age)
        except ImplausibleValueError as err:
            detail = {
                "celsius": m.celsius,
                "original_value": m.original_value,
                "original_unit": m.original_unit.value,
            }
            await self.refused(m.device, err.reason, detail)
            return
        celsius = float(c.values["celsius"])
        await self.finish(
            device=m.device,
            device_time=m.device_time,
            values=TemperatureValues(
                celsius=celsius,
                original_value=m.original_value,
                original_unit=m.original_unit.value,
                site=None if m.site is None else m.site.value,
            ),
            c=c,
            shown=f"{celsius:.1f}",
            explanation=explain_temperature(c, rules),
        )
