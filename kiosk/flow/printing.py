"""The take-home slip: printed when the elder finishes a visit, and again on
request ("打印小票 / Print slip" on the thank-you screen).

- Only when a printer is configured (:attr:`Devices.printer
  <kiosk.flow.ports.Devices>`), the visit has at least one saved result, and
  the elder pressed Finish: a visit that ends by itself (nobody there any
  more) prints nothing, so no slip waits in the printer for the next person.
- In the background: the slip is drawn in a worker thread and sent by a task
  that outlives the visit (:meth:`FlowContext.spawn <kiosk.flow.context.
  FlowContext.spawn>` with ``keep``): the screen never waits for it, and a
  slip half printed is never cut off because the visit ended.
- The thank-you screen stays while the slip prints, then ``done_s`` more so
  the elder can take it (or read why it failed).
- A failure is a plain sentence on the thank-you screen (no paper: "please
  tell the staff"), never an error screen: the visit itself is done and saved.
- The slip (:func:`kiosk.slip.model.slip_for_visit`) holds no ID number and
  only the masked name; it is dropped as soon as the thank-you screen goes.

This module only needs a :class:`~kiosk.slip.model.Slip` and the printer, so
another screen (a visit summary) can offer the same printing through
:meth:`Printing.print_now`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from drivers.printer.escpos_codec import Raster
from healthkiosk.errors import HealthKioskError, PrinterError, PrinterProblem
from kiosk.flow.context import FlowContext, VisitRecord
from kiosk.flow.state import (
    BpResult,
    GlucoseResult,
    PrintStatus,
    Screen,
    State,
    TrendPoint,
    VitalResult,
)
from kiosk.slip.model import (
    EARLIER_PER_KIND,
    Slip,
    SlipPoint,
    SlipResult,
    SlipSettings,
    mask_name,
)

log = logging.getLogger(__name__)

PRINT_LIMIT_S = 600.0
"""The last resort: a slip not printed after this long is reported failed
(the driver's own timeouts end a stuck printer long before)."""


class Printing:
    def __init__(self, ctx: FlowContext, settings: SlipSettings) -> None:
        self._ctx = ctx
        self._settings = settings
        self._slip: Slip | None = None
        self._job = 0
        self._busy = False
        ctx.subscribe(self._on_state)

    @property
    def available(self) -> bool:
        return self._ctx.devices.printer is not None

    # --- events ----------------------------------------------------------------

    def visit_finished(self, visit: VisitRecord) -> None:
        """The elder pressed Finish (the thank-you screen shows): their slip."""
        ctx = self._ctx
        if not self.available or not visit.slip_results or ctx.state.screen is not Screen.DONE:
            return
        identity = visit.identity
        self._slip = slip_for_visit(
            self._settings,
            name=identity.name if identity is not None else None,
            results=[r for r, _ in visit.slip_results],
            history=visit.history or (),
            measured=[at for _, at in visit.slip_results],
            at=ctx.clock.now(),
        )
        self.print_now()

    def print_now(self) -> None:
        """Print the slip held (the button, and right after Finish)."""
        ctx = self._ctx
        slip = self._slip
        if slip is None or self._busy or ctx.state.screen is not Screen.DONE:
            return
        ctx.touch()
        self._busy = True
        self._job += 1
        job = self._job
        ctx.done_deadline = None  # the thank-you screen waits for the slip
        ctx.update(print_status="printing", can_print=False)
        ctx.spawn(lambda: self._print(slip, job), "print-slip", keep=True)

    def _on_state(self, state: State) -> None:
        if state.screen is not Screen.DONE and self._slip is not None:
            self._slip = None  # the thank-you screen is gone: nothing personal kept

    # --- the job -----------------------------------------------------------------

    async def _print(self, slip: Slip, job: int) -> None:
        ctx = self._ctx
        printer = ctx.devices.printer
        status: PrintStatus = "printed"
        try:
            if printer is None:
                raise PrinterError("no printer", problem=PrinterProblem.OFFLINE)
            raster = await asyncio.to_thread(draw, slip, printer.dot_width)
            await asyncio.wait_for(printer.print_raster(raster), PRINT_LIMIT_S)
        except PrinterError as err:
            log.warning("slip not printed: %s", err)
            status = "no_paper" if err.problem is PrinterProblem.NO_PAPER else "failed"
        except (HealthKioskError, TimeoutError) as err:
            log.warning("slip not printed: %s: %s", type(err).__name__, err)
            status = "failed"
        except Exception:  # a slip that cannot be drawn must not disturb the visit
            log.exception("slip not printed")
            status = "failed"
        finally:
            self._busy = False
        if job != self._job or ctx.state.screen is not Screen.DONE:
            return  # the elder has gone: nobody to tell
        ctx.done_deadline = ctx.clock.monotonic() + ctx.cfg.done_s
        ctx.update(print_status=status, can_print=self._slip is not None)


def draw(slip: Slip, dot_width: int) -> Raster:
    """The slip as the printer's raster (blocking: Pillow; run in a worker thread)."""
    from drivers.printer.pillow import to_raster
    from kiosk.slip.render import render

    return to_raster(render(slip, dot_width=dot_width).image)


# --- the slip of a visit ---------------------------------------------------------


def result_of(r: BpResult | GlucoseResult | VitalResult) -> SlipResult:
    if isinstance(r, VitalResult):
        return SlipResult(
            kind=r.kind,
            value=r.shown,
            category=r.category,
            urgent=r.urgent,
            advice=r.advice,
            lines=(
                (r.explanation.key, r.explanation.params),
                *((n.key, n.params) for n in r.notes),
            ),
        )
    if isinstance(r, BpResult):
        return SlipResult(
            kind="blood_pressure",
            value=f"{r.systolic}/{r.diastolic}",
            category=r.category,
            urgent=r.urgent,
            advice=r.advice,
            pulse=r.pulse,
            notes=("result.irregular",) if r.irregular_pulse else (),
        )
    return SlipResult(
        kind="glucose",
        value=r.shown or f"{r.mmol_per_l:.1f}",
        category=r.category,
        urgent=r.urgent,
        advice=r.advice,
        meal=r.meal,
        notes=("result.close_to_limit",) if r.close_to_limit and not r.urgent else (),
    )


def point_value(p: TrendPoint) -> str:
    if p.kind == "blood_pressure":
        return f"{p.values[0]:.0f}/{p.values[1]:.0f}"
    return f"{p.values[0]:.1f}"


def earlier_points(
    history: Iterable[TrendPoint], *, exclude: Sequence[datetime]
) -> list[SlipPoint]:
    """The last :data:`EARLIER_PER_KIND` points of each kind, oldest first,
    leaving out this visit's own (measured at one of ``exclude``)."""
    mine = set(exclude)
    out: list[SlipPoint] = []
    for kind in ("blood_pressure", "glucose"):
        pts = [p for p in history if p.kind == kind and p.at not in mine]
        pts.sort(key=lambda p: p.at)
        kept = pts[-EARLIER_PER_KIND:]
        out += [SlipPoint(p.kind, p.at, point_value(p), p.category) for p in kept]
    return out


def slip_for_visit(
    settings: SlipSettings,
    *,
    name: str | None,
    results: Sequence[BpResult | GlucoseResult | VitalResult],
    history: Iterable[TrendPoint] = (),
    measured: Sequence[datetime] = (),
    at: datetime,
) -> Slip:
    """The slip of a visit: its results (urgent first), the earlier ones
    from ``history`` (this visit's, measured at ``measured``, left out), the
    resident's name masked."""
    ordered = sorted((result_of(r) for r in results), key=lambda r: not r.urgent)
    return Slip(
        settings=settings,
        printed_at=at,
        name=mask_name(name),
        results=tuple(ordered),
        earlier=tuple(earlier_points(history, exclude=measured)),
    )
