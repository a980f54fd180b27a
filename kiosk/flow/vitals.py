"""Weight, oxygen saturation and temperature: what their steps share.

Each is one measurement on its own screen (no preparation screen: stepping
on the scale, a finger in the clip, the thermometer under the arm are said on
the measuring screen), classified with the rules (docs/clinical.md, "Body
mass index", "Oxygen saturation", "Body temperature"), saved, then shown like
the other results. The choice ``vitals`` measures the three one after the
other: the result screen's "Next" leads to the next (:class:`Vitals`).

A device error shows the error screen with "Try again"; a value the rules
find implausible is kept as a device event and measured again, never a
reading (as for glucose).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from healthkiosk.readings import DeviceInfo
from healthkiosk.rules import Classification
from kiosk.flow.context import FlowContext
from kiosk.flow.ports import CompletedReading, VitalValues
from kiosk.flow.result import Results
from kiosk.flow.state import Explanation, Screen, VitalKind, VitalResult

MEASURE_SCREENS: Mapping[VitalKind, Screen] = {
    "weight": Screen.MEASURE_WEIGHT,
    "spo2": Screen.MEASURE_SPO2,
    "temperature": Screen.MEASURE_TEMPERATURE,
}
ORDER: tuple[VitalKind, ...] = ("weight", "spo2", "temperature")
"""The order of the choice ``vitals``: standing first, then seated."""


class VitalStep:
    """One measurement's common parts: the measuring screen, saving, the result."""

    kind: VitalKind

    def __init__(self, ctx: FlowContext, results: Results) -> None:
        self._ctx = ctx
        self._results = results

    @property
    def screen(self) -> Screen:
        return MEASURE_SCREENS[self.kind]

    def start(self) -> None:
        """The measuring screen, and the measurement under way."""
        ctx = self._ctx
        ctx.update(screen=self.screen, error=None, vital_result=None)
        ctx.start_countdown(ctx.cfg.measure_timeout_s, lambda: None)
        ctx.spawn(self.measure_task, f"measure-{self.kind}")

    async def measure_task(self) -> None:
        raise NotImplementedError

    def still_measuring(self) -> bool:
        """Whether the elder is still on this step's screen (not cancelled)."""
        return self._ctx.state.screen is self.screen

    async def refused(self, device: DeviceInfo, reason: str, detail: dict[str, Any]) -> None:
        """A value the rules find implausible: kept as a device event, measured again."""
        ctx = self._ctx
        await ctx.record_event(device.label, "implausible", {**detail, "why": reason})
        ctx.show_error("implausible", device=device.model, retry=self.start)

    async def finish(
        self,
        *,
        device: DeviceInfo,
        device_time: datetime | None,
        values: VitalValues,
        c: Classification,
        shown: str,
        explanation: Explanation,
        notes: tuple[Explanation, ...] = (),
    ) -> None:
        """Save the reading, then show it."""
        ctx = self._ctx
        identity, visit_uuid = ctx.visit.identity, ctx.visit.uuid
        assert identity is not None and visit_uuid is not None
        reading = CompletedReading(
            uuid=str(uuid.uuid4()),
            visit_uuid=visit_uuid,
            kind=self.kind,
            measured_at=ctx.clock.now(),
            device_time=device_time,
            resident=identity,
            device=device,
            values=values,
            category=c.category,
            urgent=c.urgent,
            isolated_systolic=None,
            close_to_limit=c.close_to_limit,
            rule=c.rule,
            clock_synced=ctx.clock_synced(),
            rule_set=ctx.rule_set,
        )
        result = VitalResult(
            kind=self.kind,
            shown=shown,
            category=c.category,
            urgent=c.urgent,
            rule=c.rule,
            explanation=explanation,
            advice=advice(self.kind, c),
            saved=False,
            notes=notes,
        )
        ctx.update(screen=Screen.SAVING)
        if await self._results.save(reading):
            await self._results.show(reading, vital_result=replace(result, saved=True))


def advice(kind: VitalKind, c: Classification) -> str:
    """The advice's text key: the urgent instruction for an urgent result."""
    return f"advice.{kind}.urgent" if c.urgent else f"advice.{kind}.{c.category}"


class Vitals:
    """The steps of the choices ``weight``, ``spo2``, ``temperature`` and ``vitals``."""

    def __init__(self, ctx: FlowContext, steps: Mapping[VitalKind, Callable[[], None]]) -> None:
        self._ctx = ctx
        self._steps = steps

    def available(self, kind: VitalKind) -> bool:
        d = self._ctx.devices
        return {"weight": d.weight, "spo2": d.pulse_oximeter, "temperature": d.thermometer}[
            kind
        ] is not None

    def begin(self, kinds: tuple[VitalKind, ...]) -> None:
        """Measure ``kinds`` one after the other (those the station has)."""
        ctx = self._ctx
        have = [k for k in kinds if self.available(k)]
        if not have:
            ctx.show_error("device_not_found")
            return
        ctx.visit.vitals_pending = have[1:]
        self._steps[have[0]]()

    @property
    def pending(self) -> bool:
        """A result shows and another of the chosen measurements is still to come."""
        ctx = self._ctx
        return bool(ctx.visit.vitals_pending) and ctx.state.screen is Screen.RESULT

    def next(self) -> None:
        """The result screen's "Next": the next chosen measurement."""
        if not self.pending:
            return
        self._ctx.touch()
        kind = self._ctx.visit.vitals_pending.pop(0)
        self._steps[kind]()
