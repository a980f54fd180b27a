"""The flow's clock tick: countdowns, the thank-you screen, inactivity.

:meth:`VisitFlow.run <kiosk.flow.visit.VisitFlow.run>` calls
:meth:`Timing.tick` every :data:`TICK_S` seconds of the injected clock:

- a running countdown (the rest before blood pressure, the pause between
  readings, the glucose wait) counts down and then calls what it was given;
- the thank-you screen goes back to the attract screen after ``done_s``;
- a screen left untouched for ``idle_timeout_s`` (``result_timeout_s`` on the
  result and summary screens, which give the elder longer to read) asks
  "still here?" for ``still_here_s``; unanswered, the visit ends (completed
  on those screens: the readings are saved). Measuring and saving are never interrupted.
- a result or summary screen of a visit with an urgent result is held while
  the call for staff is open (:mod:`kiosk.flow.help`): the screen told the
  elder to sit down and wait there ("请坐下休息，不要离开，工作人员马上来"), so
  no "still here?" and no end of the visit until staff acknowledge the call
  (at the station or from the web); from the acknowledgement on, the screen's
  usual ``result_timeout_s`` and ``still_here_s`` apply.
"""

from __future__ import annotations

import logging
import math

from kiosk.flow.context import FlowContext
from kiosk.flow.leaving import Leaving
from kiosk.flow.state import BUSY_SCREENS, Screen, State

log = logging.getLogger(__name__)

TICK_S = 0.2


class Timing:
    def __init__(self, ctx: FlowContext, leaving: Leaving) -> None:
        self._ctx = ctx
        self._leaving = leaving

    def tick(self) -> None:
        now = self._ctx.clock.monotonic()
        self._countdown(now)
        st = self._ctx.state
        if st.screen is Screen.ATTRACT:
            return
        if st.screen is Screen.DONE:
            deadline = self._ctx.done_deadline
            if deadline is not None and now >= deadline:
                self._leaving.reset()
            return
        if _busy(st) or self._waiting_for_staff(st):
            self._hold_idle(now)
            return
        self._idle(now)

    def _waiting_for_staff(self, st: State) -> bool:
        """An urgent result of this visit on screen while its call for staff is open."""
        return (
            st.screen in (Screen.RESULT, Screen.SUMMARY)
            and st.help is not None
            and st.help.open
            and any(r.urgent for r in self._ctx.visit.results)
        )

    def still_here(self) -> None:
        """The elder answered "still here?"."""
        ctx = self._ctx
        ctx.still_deadline = None
        ctx.idle_from_now()
        ctx.update(still_here_s=None)

    def _countdown(self, now: float) -> None:
        ctx = self._ctx
        if ctx.countdown_deadline is None:
            return
        left = ctx.countdown_deadline - now
        if left > 0:
            ctx.update(countdown_s=math.ceil(left))
            return
        ctx.countdown_deadline = None
        done, ctx.on_countdown = ctx.on_countdown, None
        ctx.update(countdown_s=None)
        if done is not None:
            done()

    def _hold_idle(self, now: float) -> None:
        """A measurement runs (or the rest before one), or the elder waits for
        staff on an urgent result: no idle time passes."""
        ctx = self._ctx
        ctx.still_deadline = None
        ctx.last_touch = now
        if ctx.state.still_here_s is not None:
            ctx.update(still_here_s=None)

    def _idle(self, now: float) -> None:
        ctx = self._ctx
        st = ctx.state
        reading = st.screen in (Screen.RESULT, Screen.SUMMARY)
        idle_s = ctx.cfg.result_timeout_s if reading else ctx.cfg.idle_timeout_s
        if ctx.still_deadline is None:
            if now - ctx.last_touch >= idle_s:
                ctx.still_deadline = now + ctx.cfg.still_here_s
                ctx.update(still_here_s=math.ceil(ctx.cfg.still_here_s))
            return
        left = ctx.still_deadline - now
        if left > 0:
            ctx.update(still_here_s=math.ceil(left))
            return
        log.info("visit ended by inactivity on %s", st.screen.value)
        ctx.still_deadline = None
        if reading:
            self._leaving.to_done("completed")  # the reading is saved: a completed visit
        else:
            self._leaving.reset(outcome="timeout")


def _busy(st: State) -> bool:
    return st.screen in BUSY_SCREENS or (st.screen is Screen.PREP_BP and not st.ready)
