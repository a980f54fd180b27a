"""Saving a finished reading and the result screen with the trend.

A reading is saved through the injected
:class:`~kiosk.flow.ports.Recorder` *before* any state says saved
(:meth:`Results.save` returns only after the commit). The trend is the
resident's earlier readings, fetched when they confirm who they are, plus
this visit's: no database round trip between saving and showing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from healthkiosk.errors import HealthKioskError
from kiosk.flow.context import FlowContext
from kiosk.flow.errors import error_key
from kiosk.flow.ports import BpValues, CompletedReading, GlucoseValues
from kiosk.flow.state import BpResult, GlucoseResult, Screen, TrendPoint, VitalResult
from kiosk.flow.summary import Summary

log = logging.getLogger(__name__)

TREND_LIMIT = 8
SAVE_WAIT_S = 30.0
HISTORY_WAIT_S = 10.0


class Results:
    def __init__(
        self,
        ctx: FlowContext,
        summary: Summary,
        *,
        on_urgent: Callable[[str], None] | None = None,
    ) -> None:
        """``on_urgent(detail)``: an urgent result is on the screen (a person is
        called: :mod:`kiosk.flow.help`); ``detail`` is ``<kind>:<category>``."""
        self._ctx = ctx
        self._summary = summary
        self._on_urgent = on_urgent

    async def save(self, reading: CompletedReading) -> bool:
        """Store the reading; False (and the error screen) when the store refused it."""
        ctx = self._ctx
        try:
            await asyncio.wait_for(ctx.recorder.save(reading), SAVE_WAIT_S)
        except HealthKioskError as err:
            log.error("reading not saved: %s", err.reason)
            ctx.show_error(error_key(err))
            return False
        except TimeoutError:
            log.error("reading not saved: the store did not answer in time")
            ctx.show_error("store_error")
            return False
        ctx.visit.saved_any = True
        return True

    async def show(
        self,
        reading: CompletedReading,
        *,
        bp_result: BpResult | None = None,
        glucose_result: GlucoseResult | None = None,
        vital_result: VitalResult | None = None,
    ) -> None:
        """The result screen for a saved reading, with the trend (a weight,
        SpO2 or temperature result shows without one)."""
        ctx = self._ctx
        if ctx.visit.history is None:
            ctx.visit.history = await self._fetch_history()
        point = trend_point(reading)
        if point is not None:
            ctx.visit.history = [*ctx.visit.history, point][-TREND_LIMIT:]
        shown = bp_result or glucose_result or vital_result
        if shown is not None:
            ctx.visit.slip_results.append((shown, reading.measured_at))
        self._summary.add(bp=bp_result, glucose=glucose_result, vital=vital_result)
        ctx.idle_from_now()
        ctx.update(
            screen=Screen.RESULT,
            bp_result=bp_result or ctx.state.bp_result,
            glucose_result=glucose_result or ctx.state.glucose_result,
            vital_result=vital_result,
            trend=tuple(
                replace(p, day=p.at.astimezone(ctx.zone).date()) for p in ctx.visit.history
            ),
            countdown_s=None,
        )
        if shown is not None and shown.urgent and self._on_urgent is not None:
            self._on_urgent(f"{reading.kind}:{shown.category}")

    async def prefetch_history(self) -> None:
        """The earlier readings, fetched while the elder chooses and measures."""
        self._ctx.visit.history = await self._fetch_history()

    @property
    def summary_next(self) -> bool:
        """The result screen's "Finish" leads to the summary of the visit's results."""
        return self._ctx.state.screen is Screen.RESULT and self._summary.wanted()

    @property
    def glucose_pending(self) -> bool:
        """The result shows blood pressure and glucose is still to come."""
        ctx = self._ctx
        return ctx.visit.glucose_pending and ctx.state.screen is Screen.RESULT

    async def _fetch_history(self) -> list[TrendPoint]:
        ctx = self._ctx
        assert ctx.visit.identity is not None
        try:
            return list(
                await asyncio.wait_for(
                    ctx.recorder.recent(ctx.visit.identity, limit=TREND_LIMIT), HISTORY_WAIT_S
                )
            )
        except (HealthKioskError, TimeoutError):
            return []


def trend_point(r: CompletedReading) -> TrendPoint | None:
    """The reading as a point of the trend; None for a meter's LO or HI, which
    is not a number (never drawn as 0.0: the result shows LO or HI itself)."""
    v = r.values
    if not isinstance(v, BpValues | GlucoseValues):
        return None  # weight, SpO2, temperature: no trend chart (yet)
    if isinstance(v, BpValues):
        return TrendPoint(
            r.measured_at, "blood_pressure", (float(v.systolic), float(v.diastolic)), r.category
        )
    if v.mmol_per_l is None:
        return None
    return TrendPoint(r.measured_at, "glucose", (float(v.mmol_per_l),), r.category)
