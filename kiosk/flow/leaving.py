"""Leaving a measurement or the visit: back to the choice, the summary of
the visit's results (:mod:`kiosk.flow.summary`), the thank-you screen, the
attract screen.

A visit ends one way (:meth:`Leaving.end_visit`): the store hears how it
ended when it saved something, the visit gate opens again and
:class:`~kiosk.flow.context.VisitRecord` is replaced, so nothing personal
is left behind.
"""

from __future__ import annotations

from collections.abc import Callable

from kiosk.flow.context import FlowContext, VisitRecord
from kiosk.flow.state import Screen, State
from kiosk.flow.summary import Summary

CANCELLABLE = frozenset(
    {
        Screen.MEASURE_BP,
        Screen.BP_PAUSE,
        Screen.MEASURE_GLUCOSE,
        Screen.PREP_BP,
        Screen.PREP_GLUCOSE,
        Screen.GLUCOSE_MEAL,
        Screen.MEASURE_WEIGHT,
        Screen.HEIGHT,
        Screen.MEASURE_SPO2,
        Screen.MEASURE_TEMPERATURE,
        Screen.ERROR,
    }
)
"""Screens "back"/"choose" leaves for the choice (readings already saved stay)."""


class Leaving:
    def __init__(
        self,
        ctx: FlowContext,
        summary: Summary,
        *,
        on_finished: Callable[[VisitRecord], None] | None = None,
    ) -> None:
        self._ctx = ctx
        self._summary = summary
        self._on_finished = on_finished
        """Told of a visit the elder finished (not one that timed out), with
        its record, once the thank-you screen shows: the take-home slip."""

    def cancel(self) -> None:
        """Stop a measurement or a preparation: back to the choice (kept readings stay)."""
        ctx = self._ctx
        if ctx.state.screen not in CANCELLABLE:
            return
        ctx.cancel_tasks()
        ctx.stop_countdown()
        ctx.visit.bp = []
        ctx.visit.weight = None
        ctx.visit.vitals_pending = []
        ctx.retry_action = None
        ctx.idle_from_now()
        ctx.update(
            screen=Screen.CHOOSE,
            cuff_mmhg=None,
            countdown_s=None,
            bp_taken=(),
            error=None,
            notice=None,
            ready=False,
            height_typed="",
            height_error=False,
        )

    def finish(self) -> None:
        """The elder is done: the summary of the visit's results when it has
        several (from a result screen), else the thank-you screen, then the
        attract screen."""
        screen = self._ctx.state.screen
        if screen in (Screen.ATTRACT, Screen.DONE, Screen.SAVING):
            return
        if screen is Screen.RESULT and self._summary.wanted():
            self._ctx.touch()
            self._summary.show()
            return
        visit = self._ctx.visit
        self.to_done("completed" if screen in (Screen.RESULT, Screen.SUMMARY) else "abandoned")
        if self._on_finished is not None:
            self._on_finished(visit)

    def to_done(self, outcome: str) -> None:
        """The thank-you screen (for :attr:`KioskConfig.done_s`), the visit ended."""
        ctx = self._ctx
        ctx.cancel_tasks()
        ctx.stop_countdown()
        self.end_visit(outcome)
        ctx.done_deadline = ctx.clock.monotonic() + ctx.cfg.done_s
        ctx.set(State(screen=Screen.DONE, language=ctx.state.language, help=ctx.state.help))

    def reset(self, *, outcome: str = "abandoned") -> None:
        """Back to the attract screen with nothing personal left."""
        ctx = self._ctx
        ctx.cancel_tasks()
        ctx.stop_countdown()
        self.end_visit(outcome)
        ctx.still_deadline = None
        ctx.done_deadline = None
        ctx.set(State(language=ctx.cfg.language, help=ctx.state.help))  # a call outlives it

    def end_visit(self, outcome: str) -> None:
        ctx = self._ctx
        visit = ctx.visit
        if visit.saved_any and visit.uuid is not None:
            visit_uuid, at = visit.uuid, ctx.clock.now()
            ctx.spawn(
                lambda: ctx.recorder.end_visit(visit_uuid, outcome=outcome, at=at), "end-visit"
            )
        ctx.gate.end()
        ctx.visit = VisitRecord()
        ctx.retry_action = None
