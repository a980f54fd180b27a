"""Blood pressure: the rest, then 2–3 readings with a pause between them.

The protocol is the rules' (:attr:`RulesConfig.blood_pressure.protocol
<healthkiosk.rules.RulesConfig>`): a rest countdown of ``rest_s`` before the
first reading, ``readings`` readings ``pause_s`` apart, and a third when the
first two differ by more than ``third_if_differ_mmhg``. A measurement the
monitor flags (body movement, cuff fit, position) or one beyond the
plausible limits is kept as a device event and measured again, never
averaged. The step begins with the preparation screen: the monitor takes its
baseline then, and what it sends from before (stored measurements, lines
printed while nobody waited) is kept as device memory, never this elder's.
The average of the kept readings is classified, saved, then shown.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from healthkiosk.errors import HealthKioskError, ImplausibleValueError
from healthkiosk.readings import BloodPressureMeasurement, CuffPressure
from healthkiosk.rules import (
    BloodPressureRules,
    Classification,
    average_blood_pressure,
    check_blood_pressure_plausible,
    classify_blood_pressure,
    needs_third_measurement,
    round_half_up,
)
from kiosk.flow.context import FlowContext
from kiosk.flow.explain import advice_blood_pressure, explain_blood_pressure
from kiosk.flow.ports import BpValues, CompletedReading
from kiosk.flow.result import Results
from kiosk.flow.state import BpResult, Screen

Taken = tuple[int, int, int | None]
"""One kept measurement as the screen lists it: systolic, diastolic, pulse."""


class BloodPressure:
    def __init__(self, ctx: FlowContext, results: Results) -> None:
        self._ctx = ctx
        self._results = results

    def prepare(self) -> None:
        """The preparation screen and the rest countdown (a new series of readings)."""
        ctx = self._ctx
        if ctx.devices.blood_pressure is None:
            ctx.show_error("device_not_found", retry=self.prepare)
            return
        ctx.visit.bp = []
        # The step begins: what the monitor sends from before now is nobody's.
        ctx.begin_step("blood_pressure", ctx.devices.blood_pressure)
        protocol = ctx.rules.blood_pressure.protocol
        ctx.update(
            screen=Screen.PREP_BP,
            ready=False,
            bp_taken=(),
            bp_reading_no=0,
            bp_readings_needed=protocol.readings,
            cuff_mmhg=None,
            error=None,
        )
        ctx.start_countdown(protocol.rest_s, self._rest_over)

    def _rest_over(self) -> None:
        self._ctx.idle_from_now()
        self._ctx.update(ready=True, countdown_s=None)

    def start(self) -> None:
        """The elder has rested and pressed start."""
        ctx = self._ctx
        st = ctx.state
        if st.screen is not Screen.PREP_BP or not st.ready:
            return
        ctx.touch()
        self._measure()

    # --- one measurement -------------------------------------------------------

    def _measure(self) -> None:
        ctx = self._ctx
        ctx.stop_countdown()
        ctx.update(
            screen=Screen.MEASURE_BP,
            bp_reading_no=len(ctx.visit.bp) + 1,
            cuff_mmhg=None,
            countdown_s=None,
            error=None,
        )
        ctx.spawn(self._measure_task, "measure-bp")

    def _on_cuff(self, pressure: CuffPressure) -> None:
        if self._ctx.state.screen is Screen.MEASURE_BP:
            self._ctx.update(cuff_mmhg=round(pressure.mmhg))

    async def _measure_task(self) -> None:
        ctx = self._ctx
        monitor = ctx.devices.blood_pressure
        if monitor is None:
            ctx.show_error("device_not_found", retry=self._measure)
            return
        await ctx.step_begun("blood_pressure")
        try:
            m = await monitor.measure(
                on_cuff_pressure=self._on_cuff, timeout_s=ctx.cfg.measure_timeout_s
            )
        except HealthKioskError as err:
            await ctx.keep_memory("blood_pressure", monitor)
            await ctx.device_failed(err, monitor.info.label, retry=self._measure)
            return
        await ctx.keep_memory("blood_pressure", monitor)
        if ctx.state.screen is not Screen.MEASURE_BP:
            return
        if await self._refused(m):
            return
        ctx.visit.bp.append((m, ctx.clock.now()))
        if self._pause_needed():
            ctx.update(screen=Screen.BP_PAUSE)
            ctx.start_countdown(ctx.rules.blood_pressure.protocol.pause_s, self._measure)
            return
        await self._finish()

    async def _refused(self, m: BloodPressureMeasurement) -> bool:
        """A measurement the monitor flagged, or beyond the plausible limits:
        kept as a device event, and the error screen offers to measure again."""
        ctx = self._ctx
        if m.status.discards_reading:
            flag = (
                "body_movement"
                if m.status.body_movement
                else "cuff_fit"
                if m.status.cuff_too_loose
                else "improper_position"
            )
            await ctx.record_event(m.device.label, flag, _bp_detail(m))
            ctx.update(notice=flag)
            ctx.show_error(flag, device=m.device.model, retry=self._measure)
            return True
        try:
            check_blood_pressure_plausible(
                m.systolic_mmhg, m.diastolic_mmhg, m.pulse_bpm, ctx.rules.blood_pressure
            )
        except ImplausibleValueError as err:
            await ctx.record_event(
                m.device.label, "implausible", {**_bp_detail(m), "why": err.reason}
            )
            await ctx.could_not_measure(
                "blood_pressure", err.reason, device=m.device, device_time=m.device_time,
                values={"systolic": m.systolic_mmhg, "diastolic": m.diastolic_mmhg,
                        "pulse": m.pulse_bpm},
            )  # fmt: skip
            ctx.show_error("implausible", device=m.device.model, retry=self._measure)
            return True
        return False

    def _pause_needed(self) -> bool:
        """Show the kept readings; whether another is needed (a third when the
        first two differ too much)."""
        ctx = self._ctx
        taken = _taken(ctx.visit.bp)
        needed = ctx.state.bp_readings_needed
        if (
            len(taken) == 2
            and needed == 2
            and needs_third_measurement(taken[0][:2], taken[1][:2], ctx.rules.blood_pressure)
        ):
            needed = 3
        ctx.update(bp_taken=taken, bp_readings_needed=needed, cuff_mmhg=None, notice=None)
        return len(taken) < needed

    # --- the series done -------------------------------------------------------

    async def _finish(self) -> None:
        ctx = self._ctx
        rules = ctx.rules.blood_pressure
        kept = ctx.visit.bp
        taken = _taken(kept)
        systolic, diastolic, pulse = average_blood_pressure(list(taken))
        c = classify_blood_pressure(systolic, diastolic, rules, pulse=pulse)
        identity, visit_uuid = ctx.visit.identity, ctx.visit.uuid
        assert identity is not None and visit_uuid is not None
        last = kept[-1][0]
        values = _bp_values(kept, systolic, diastolic, pulse)
        reading = CompletedReading(
            uuid=str(uuid.uuid4()),
            visit_uuid=visit_uuid,
            kind="blood_pressure",
            measured_at=ctx.clock.now(),
            device_time=last.device_time,
            resident=identity,
            device=last.device,
            values=values,
            category=c.category,
            urgent=c.urgent,
            isolated_systolic=c.isolated_systolic,
            close_to_limit=c.close_to_limit,
            rule=c.rule,
            clock_synced=ctx.clock_synced(),
            rule_set=ctx.rule_set,
        )
        result = _bp_result(values, c, taken, rules)
        ctx.update(screen=Screen.SAVING, cuff_mmhg=None)
        if await self._results.save(reading):
            ctx.visit.glucose_pending = ctx.state.choice == "both"
            await self._results.show(reading, bp_result=replace(result, saved=True))


def _taken(kept: list[tuple[BloodPressureMeasurement, datetime]]) -> tuple[Taken, ...]:
    return tuple((m.systolic_mmhg, m.diastolic_mmhg, m.pulse_bpm) for m, _ in kept)


def _bp_values(
    kept: list[tuple[BloodPressureMeasurement, datetime]],
    systolic: int,
    diastolic: int,
    pulse: int | None,
) -> BpValues:
    maps = [m.mean_arterial_mmhg for m, _ in kept if m.mean_arterial_mmhg is not None]
    return BpValues(
        systolic=systolic,
        diastolic=diastolic,
        pulse=pulse,
        mean_arterial=round_half_up(sum(maps) / len(maps)) if maps else None,
        irregular_pulse=any(m.status.irregular_pulse for m, _ in kept),
        measurements=tuple(_bp_measurement(m, at) for m, at in kept),
    )


def _bp_result(
    v: BpValues,
    c: Classification,
    taken: tuple[Taken, ...],
    rules: BloodPressureRules,
) -> BpResult:
    """The result screen's part (not saved yet)."""
    return BpResult(
        systolic=v.systolic,
        diastolic=v.diastolic,
        pulse=v.pulse,
        irregular_pulse=v.irregular_pulse,
        readings=taken,
        category=c.category,
        urgent=c.urgent,
        isolated_systolic=bool(c.isolated_systolic),
        rule=c.rule,
        explanation=explain_blood_pressure(c, rules),
        advice=advice_blood_pressure(c),
        saved=False,
    )


def _bp_measurement(m: BloodPressureMeasurement, at: datetime) -> dict[str, Any]:
    """One measurement averaged into a reading, in the wire schema's shape
    (``hk.reading/1`` ``values.measurements``)."""
    return {
        "systolic": m.systolic_mmhg,
        "diastolic": m.diastolic_mmhg,
        "pulse": m.pulse_bpm,
        "measured_at": at.isoformat(),
        "device_time": m.device_time.isoformat() if m.device_time else None,
        "irregular_pulse": m.status.irregular_pulse,
    }


def _bp_detail(m: BloodPressureMeasurement) -> dict[str, Any]:
    """A refused measurement, as kept in the device events."""
    s = m.status
    return {
        "systolic_mmhg": m.systolic_mmhg,
        "diastolic_mmhg": m.diastolic_mmhg,
        "pulse_bpm": m.pulse_bpm,
        "mean_arterial_mmhg": m.mean_arterial_mmhg,
        "device_time": m.device_time.isoformat() if m.device_time else None,
        "irregular_pulse": s.irregular_pulse,
        "body_movement": s.body_movement,
        "cuff_too_loose": s.cuff_too_loose,
        "improper_position": s.improper_position,
    }
