"""Calls for staff: an urgent result brings a person, and 呼叫工作人员 on every
screen where the elder may be stuck (issue 16).

:meth:`Help.call` is made by the flow itself for an urgent result (from
:mod:`~kiosk.flow.result`) and by the elder's button (the screen's
``call_staff``: on check-in, "is this you?", the preparation, measuring and
pause screens, a result and the summary, and first of all on the error
screens that need staff, :data:`kiosk.flow.errors.NEEDS_STAFF`). The call
names the screen it came from and, where it helps, what is on it
(:func:`call_detail`). At once, before anything is written:
the station alerts (:class:`~kiosk.flow.ports.StaffAlert`: a chime, the staff
lamp) and the screen says a person is coming; then the call is kept through
the :class:`~kiosk.flow.ports.HelpDesk` (``kiosk-sync`` sends it to the
doctor's side, ``hk.help/1``) and the screen says the doctor is told.

One call is open at a time: a second press while one is open changes
nothing. The call outlives the visit (the attract screen still says staff
are called) until someone acknowledges it: at the station (the kiosk's
"staff here" button, or the technician's screen: :meth:`Help.acknowledge`)
or on the web (:meth:`Help.run` looks for the web's acknowledgements every
:data:`POLL_S`). Then the lamp goes out, the screen says so for
:data:`ACKNOWLEDGED_SHOWN_S`, and the acknowledgement goes back to the doctor's side.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Literal

from healthkiosk.errors import HealthKioskError
from kiosk.flow.context import FlowContext
from kiosk.flow.ports import HelpAck, HelpCallRecord, HelpDesk, StaffAlert
from kiosk.flow.state import HelpReason, HelpView, Screen, State

log = logging.getLogger(__name__)

POLL_S = 1.0
"""How often an open call looks for an acknowledgement from the web."""
ACKNOWLEDGED_SHOWN_S = 20.0
"""How long "staff have seen it" stays on the screen."""
DESK_WAIT_S = 10.0


def call_detail(state: State) -> str:
    """What the staff's call says of where the elder is stuck, beside the
    screen's name (never personal): the error's key, what is wrong with the
    number typed at check-in (``id_check_digit``...), the result on screen or
    the summary's most urgent one (``blood_pressure:grade_1``); else nothing."""
    if state.error is not None:
        return state.error.key
    if state.screen is Screen.CHECKIN:
        return state.keypad_error or ""
    if state.screen is Screen.RESULT:
        if state.vital_result is not None:
            return f"{state.vital_result.kind}:{state.vital_result.category}"
        if state.glucose_result is not None:
            return f"glucose:{state.glucose_result.category}"
        if state.bp_result is not None:
            return f"blood_pressure:{state.bp_result.category}"
    if state.screen is Screen.SUMMARY and state.summary:
        first = state.summary[0]  # the most urgent first
        return f"{first.kind}:{first.category}"
    return ""


class Help:
    def __init__(self, ctx: FlowContext, desk: HelpDesk, alert: StaffAlert) -> None:
        self._ctx = ctx
        self._desk = desk
        self._alert = alert
        self.call_id: str | None = None
        """The open call (None: none, or acknowledged)."""
        self._shown_until: float | None = None

    # --- calling ---------------------------------------------------------------

    def call(self, reason: HelpReason, *, detail: str = "") -> None:
        """Call a person to the station (nothing new while a call is open)."""
        ctx = self._ctx
        if self.call_id is not None:
            return
        ctx.touch()
        self.call_id = call_id = str(uuid.uuid4())
        self._shown_until = None
        record = HelpCallRecord(
            id=call_id,
            reason=reason,
            screen=ctx.state.screen.value,
            detail=detail,
            called_at=ctx.clock.now(),
        )
        log.warning("calling staff: %s (screen %s%s)", reason, record.screen,
                    f", {detail}" if detail else "")  # fmt: skip
        self._safely(self._alert.alert, "alert")
        ctx.update(help=HelpView(reason=reason, status="calling", screen=record.screen))
        ctx.spawn(lambda: self._keep(record), "help-call", keep=True)

    async def _keep(self, record: HelpCallRecord) -> None:
        ctx = self._ctx
        try:
            await asyncio.wait_for(self._desk.call(record), DESK_WAIT_S)
        except (HealthKioskError, OSError, TimeoutError) as err:
            log.error("the call for staff was not kept (the lamp and chime were): %s", err)
            status: Literal["called", "failed"] = "failed"
        else:
            status = "called"
        help_ = ctx.state.help
        if self.call_id == record.id and help_ is not None and help_.status == "calling":
            ctx.update(help=replace(help_, status=status))

    # --- acknowledging -------------------------------------------------------------

    def acknowledge(self, *, by: str) -> None:
        """Someone at the station has come (the kiosk's button, the technician)."""
        call_id = self.call_id
        if call_id is None:
            return
        self._ctx.touch()
        self._acknowledged(HelpAck(call=call_id, at=self._ctx.clock.now(), by=by, where="station"))

    def _acknowledged(self, ack: HelpAck) -> None:
        ctx = self._ctx
        self.call_id = None
        log.info("call for staff %s acknowledged (%s, %s)", ack.call, ack.where, ack.by)
        self._safely(self._alert.clear, "clear")
        self._shown_until = ctx.clock.monotonic() + ACKNOWLEDGED_SHOWN_S
        if ctx.state.help is not None:
            ctx.update(help=replace(ctx.state.help, status="acknowledged"))
        ctx.spawn(lambda: self._keep_ack(ack), "help-ack", keep=True)

    async def _keep_ack(self, ack: HelpAck) -> None:
        try:
            await asyncio.wait_for(self._desk.acknowledge(ack), DESK_WAIT_S)
        except (HealthKioskError, OSError, TimeoutError) as err:
            log.error("the acknowledgement of call %s was not kept: %s", ack.call, err)

    async def run(self, closed: Callable[[], bool]) -> None:
        """Look for the web's acknowledgement of the open call; clear the
        "acknowledged" words after a while. Runs until ``closed()``."""
        ctx = self._ctx
        while not closed():
            await ctx.clock.sleep(POLL_S)
            if self.call_id is not None:
                try:
                    acks = await asyncio.wait_for(self._desk.web_acks(), DESK_WAIT_S)
                except (HealthKioskError, OSError, TimeoutError) as err:
                    log.warning("acknowledgements from the web not read: %s", err)
                    continue
                mine = next((a for a in acks if a.call == self.call_id), None)
                if mine is not None:
                    self._acknowledged(mine)
            elif self._shown_until is not None and ctx.clock.monotonic() >= self._shown_until:
                self._shown_until = None
                ctx.update(help=None)

    @staticmethod
    def _safely(what: Callable[[], None], name: str) -> None:
        try:
            what()
        except Exception:  # the hardware must never take the kiosk down
            log.exception("staff alert (%s) failed", name)
