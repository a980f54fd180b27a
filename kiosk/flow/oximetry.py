"""Oxygen saturation: a stable SpO2 and pulse from the oximeter.

Only a stable reading counts (docs/clinical.md, "Oxygen saturation"): the
driver returns a spot-check only when its status says it is final and clean,
and continuous values only once the oximeter marks them validated or they
hold steady (``drivers/ble/plx.py``); until then the measuring screen asks the
elder to keep the hand still. A weak signal or a finger out of the clip is a
device error ("Try again"), never a reading.
"""

from __future__ import annotations

from healthkiosk.errors import HealthKioskError, ImplausibleValueError
from healthkiosk.rules import classify_spo2
from kiosk.flow.explain import explain_spo2, pulse_note
from kiosk.flow.ports import Spo2Values
from kiosk.flow.vitals import VitalStep


class Oximetry(VitalStep):
    kind = "spo2"

    async def measure_task(self) -> None:
        ctx = self._ctx
        oximeter = ctx.devices.pulse_oximeter
        if oximeter is None:
            ctx.show_error("device_not_found", retry=self.start)
            return
        try:
            m = await oximeter.measure(timeout_s=ctx.cfg.measure_timeout_s)
        except HealthKioskError as err:
            await ctx.device_failed(err, oximeter.info.label, retry=self.start)
            return
        if not self.still_measuring():
            return
        ctx.stop_countdown()
        rules = ctx.rules.spo2
        try:
            c = classify_spo2(m.spo2_percent, rules, pulse_bpm=m.pulse_bpm)
        except ImplausibleValueError as err:
            detail = {"spo2_percent": m.spo2_percent, "pulse_bpm": m.pulse_bpm}
            await self.refused(m.device, err.reason, detail)
            return
        spo2 = int(c.values["spo2_percent"])
        await self.finish(
            device=m.device,
            device_time=m.device_time,
            values=Spo2Values(
                spo2_percent=spo2,
                pulse=m.pulse_bpm,
                mode=m.mode.value,
                pulse_amplitude_index=m.pulse_amplitude_index,
            ),
            c=c,
            shown=str(spo2),
            explanation=explain_spo2(c, rules),
            notes=() if m.pulse_bpm is None else (pulse_note(m.pulse_bpm),),
        )
