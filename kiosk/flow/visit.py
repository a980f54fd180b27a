"""The visit as a state machine: plain Python, no Kivy, an injected clock.

The screen calls the event methods of :class:`VisitFlow` (``start_checkin``,
``key``, ``choose``...) and renders :attr:`VisitFlow.state` whenever a
subscriber is told it changed. Device work runs as tasks in the flow's own
task group; every wait has a timeout; device errors become
:class:`~kiosk.flow.state.ErrorView` states and never a reading. A completed
reading is saved through the injected :class:`~kiosk.flow.ports.Recorder`
*before* the state says saved. Timing (idle, "still here?", rest and pause
countdowns, the result screen's longer idle time) is driven by
:meth:`VisitFlow.run`, which ticks on the clock.

:class:`VisitFlow` is the one entry point; each phase is a module of its own
over one shared :class:`~kiosk.flow.context.FlowContext`:

========================  =====================================================
:mod:`.checkin`           ID card, keypad, QR code, "is this you?"
:mod:`.bloodpressure`     the rest, 2–3 readings with a pause, the average
:mod:`.glucose`           the fasting question, the measurement
:mod:`.vitals`            weight (:mod:`.weight`, with the height), SpO2
                          (:mod:`.oximetry`), temperature (:mod:`.temperature`)
:mod:`.result`            saving, the result screen and its trend
:mod:`.summary`           the end of a visit: every result, the most urgent first
:mod:`.technician`        PIN, device test, pairing, restart
:mod:`.leaving`           back to the choice, thank-you, attract screen
:mod:`.printing`          the take-home slip, printed at the end
:mod:`.help`              calls for staff: an urgent result, 呼叫工作人员
:mod:`.timing`            the tick: countdowns, idle, "still here?"
:mod:`.context`           what the phases share (state, tasks, error screen)
========================  =====================================================

This class only routes the screen's events to the phase whose screen shows.
"""

from __future__ import annotations

from collections.abc import Callable

from healthkiosk.config import KioskConfig
from healthkiosk.rules import RulesConfig
from kiosk.flow.bloodpressure import BloodPressure
from kiosk.flow.checkin import CheckIn
from kiosk.flow.clock import Clock
from kiosk.flow.context import FlowContext, Listener
from kiosk.flow.glucose import Glucose
from kiosk.flow.help import Help, call_detail
from kiosk.flow.leaving import Leaving
from kiosk.flow.oximetry import Oximetry
from kiosk.flow.ports import (
    Devices,
    HelpDesk,
    MemoryHelpDesk,
    OpenGate,
    PinAttempts,
    Recorder,
    RecordingAlert,
    StaffAlert,
    VisitGate,
)
from kiosk.flow.printing import Printing
from kiosk.flow.result import Results
from kiosk.flow.state import Choice, Language, MealAnswer, Screen, State
from kiosk.flow.summary import Summary
from kiosk.flow.technician import Technician
from kiosk.flow.temperature import Temperature
from kiosk.flow.timing import TICK_S, Timing
from kiosk.flow.vitals import ORDER, Vitals
from kiosk.flow.weight import Weight
from kiosk.slip.model import SlipSettings


class VisitFlow:
    def __init__(
        self,
        *,
        config: KioskConfig,
        rules: RulesConfig,
        devices: Devices,
        recorder: Recorder,
        clock: Clock,
        version: str = "",
        visit_gate: VisitGate | None = None,
        slip: SlipSettings | None = None,
        clock_synced: Callable[[], bool | None] | None = None,
        pin_attempts: PinAttempts | None = None,
        help_desk: HelpDesk | None = None,
        staff_alert: StaffAlert | None = None,
    ) -> None:
        """``clock_synced``: whether the wall clock is synchronised now
        (:meth:`healthkiosk.clocktrust.ClockTrust.trusted`); each reading is
        marked with it (None, not known, without it). ``help_desk`` and
        ``staff_alert``: where calls for staff go (:mod:`kiosk.flow.help`;
        by default kept in memory, and no chime or lamp)."""
        self._ctx = ctx = FlowContext(
            config=config,
            rules=rules,
            devices=devices,
            recorder=recorder,
            clock=clock,
            version=version,
            gate=visit_gate or OpenGate(),
            clock_synced=clock_synced or (lambda: None),
            zone=(slip or SlipSettings(station="")).zone,
        )
        self._closed = False
        summary = Summary(ctx)
        self._help = Help(ctx, help_desk or MemoryHelpDesk(), staff_alert or RecordingAlert())
        self._results = results = Results(ctx, summary, on_urgent=self._urgent)
        self._printing = Printing(ctx, slip or SlipSettings(station=""))
        self._leaving = leaving = Leaving(ctx, summary, on_finished=self._printing.visit_finished)
        self._timing = Timing(ctx, leaving)
        self._checkin = CheckIn(ctx, results)
        self._bp = BloodPressure(ctx, results)
        self._glucose = Glucose(ctx, results)
        self._weight = Weight(ctx, results)
        self._vitals = Vitals(
            ctx,
            {
                "weight": self._weight.start,
                "spo2": Oximetry(ctx, results).start,
                "temperature": Temperature(ctx, results).start,
            },
        )
        self._tech = Technician(ctx, pin_attempts)

    # --- observing -----------------------------------------------------------

    @property
    def state(self) -> State:
        return self._ctx.state

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with the state now and at every change; returns the unsubscribe."""
        return self._ctx.subscribe(listener)

    @property
    def glucose_pending(self) -> bool:
        """The result shows blood pressure and glucose is still to come."""
        return self._results.glucose_pending

    @property
    def vitals_pending(self) -> bool:
        """The result shows and another of the chosen weight, SpO2, temperature is to come."""
        return self._vitals.pending

    @property
    def summary_next(self) -> bool:
        """The result screen's "Finish" leads to the summary of every result of the visit."""
        return self._results.summary_next

    # --- lifecycle -----------------------------------------------------------

    async def run(self) -> None:
        """Tick until :meth:`close`; owns every device task of the visit."""
        async with self._ctx.task_group():
            self._ctx.spawn(lambda: self._help.run(lambda: self._closed), "help-watch", keep=True)
            while not self._closed:
                self._timing.tick()
                await self._ctx.clock.sleep(TICK_S)

    def close(self) -> None:
        """Stop :meth:`run` (idempotent)."""
        self._closed = True

    # --- events from the screen: always allowed ------------------------------

    def touch(self) -> None:
        """Any touch on the screen: the elder is here."""
        self._ctx.touch()

    def still_here(self) -> None:
        self._timing.still_here()

    def set_language(self, language: Language) -> None:
        self._ctx.touch()
        self._ctx.update(language=language)

    # --- check-in (kiosk.flow.checkin) ----------------------------------------

    def start_checkin(self) -> None:
        self._checkin.start()

    def key(self, char: str) -> None:
        self._checkin.key(char)

    def backspace(self) -> None:
        self._checkin.backspace()

    def clear_keypad(self) -> None:
        self._checkin.clear()

    def submit_id(self) -> None:
        self._checkin.submit_id()

    def confirm(self) -> None:
        self._checkin.confirm()

    def not_me(self) -> None:
        self._checkin.not_me()

    # --- the choice -----------------------------------------------------------

    def choose(self, choice: Choice) -> None:
        ctx = self._ctx
        if ctx.state.screen is not Screen.CHOOSE:
            return
        ctx.touch()
        ctx.update(
            choice=choice,
            bp_result=None,
            glucose_result=None,
            vital_result=None,
            trend=(),
            error=None,
            notice=None,
        )
        ctx.visit.glucose_pending = choice == "both"
        ctx.visit.vitals_pending = []
        if choice == "glucose":
            self._glucose.ask_meal()
        elif choice == "vitals":
            self._vitals.begin(ORDER)
        elif choice in ("weight", "spo2", "temperature"):
            # the chosen one, then "Next" offers those after it (never forced)
            self._vitals.begin(ORDER[ORDER.index(choice) :])
        else:
            self._bp.prepare()

    def can_measure(self, choice: Choice) -> bool:
        """Whether the station has the device for ``choice`` (the choice screen
        offers weight, SpO2 and temperature only where it has)."""
        if choice == "vitals":
            return any(self._vitals.available(k) for k in ORDER)
        if choice in ("weight", "spo2", "temperature"):
            return self._vitals.available(choice)
        return True

    # --- blood pressure (kiosk.flow.bloodpressure) ------------------------------

    def start_bp(self) -> None:
        self._bp.start()

    # --- glucose (kiosk.flow.glucose) -------------------------------------------

    def next_glucose(self) -> None:
        """From a blood pressure result, on to glucose (choice "both")."""
        self._glucose.next_glucose()

    def answer_meal(self, answer: MealAnswer | None) -> None:
        """Fasting or not; no answer ("not sure") counts as random."""
        self._glucose.answer_meal(answer)

    def start_glucose(self) -> None:
        self._glucose.start()

    # --- weight, SpO2, temperature (kiosk.flow.vitals) -------------------------

    def next_vital(self) -> None:
        """From a weight, SpO2 or temperature result, on to the next chosen one."""
        self._vitals.next()

    def height_key(self, digit: str) -> None:
        self._weight.key(digit)

    def height_backspace(self) -> None:
        self._weight.backspace()

    def submit_height(self) -> None:
        self._weight.submit()

    # --- errors and leaving (kiosk.flow.context, kiosk.flow.leaving) ------------

    def retry(self) -> None:
        """The error screen's "Try again"."""
        self._ctx.retry()

    def cancel(self) -> None:
        """Stop a measurement or a preparation: back to the choice (kept readings stay)."""
        self._leaving.cancel()

    def back(self) -> None:
        """The "back" button every screen has."""
        screen = self._ctx.state.screen
        self._ctx.touch()
        if screen is Screen.CHECKIN:
            self._leaving.reset(outcome="abandoned")
        elif screen is Screen.CONFIRM:
            self._checkin.not_me()
        elif screen is Screen.CHOOSE:
            self._leaving.finish()
        elif screen is Screen.PREP_GLUCOSE:
            self._glucose.back_to_meal()
        elif screen in (Screen.TECH_PIN, Screen.TECHNICIAN):
            self._leaving.reset()
        else:
            self._leaving.cancel()

    def finish(self) -> None:
        """The elder is done: the summary when the visit has several results
        (from a result screen), else the thank-you screen (their slip printed,
        with a printer), then the attract screen."""
        self._leaving.finish()

    # --- the take-home slip (kiosk.flow.printing) --------------------------------

    def print_slip(self) -> None:
        """ "Print slip" on the thank-you screen: the visit's slip (again)."""
        self._printing.print_now()

    # --- calls for staff (kiosk.flow.help) -----------------------------------------

    def call_staff(self) -> None:
        """呼叫工作人员: the elder calls a person to the station (the call names
        the screen and what is wrong there: :func:`~kiosk.flow.help.call_detail`)."""
        self._help.call("staff_call", detail=call_detail(self._ctx.state))

    def staff_here(self) -> None:
        """Staff at the kiosk acknowledge the open call (the kiosk's button)."""
        self._help.acknowledge(by="kiosk")

    def tech_help_ack(self) -> None:
        """The technician acknowledges the open call from their screen."""
        if self._ctx.state.screen is Screen.TECHNICIAN:
            self._help.acknowledge(by="technician")

    @property
    def help_open(self) -> bool:
        """A call for staff waits for someone to come."""
        return self._help.call_id is not None

    def _urgent(self, detail: str) -> None:
        self._help.call("urgent_result", detail=detail)

    # --- technician (kiosk.flow.technician) --------------------------------------

    def open_technician(self) -> None:
        self._tech.open()

    def pin_key(self, digit: str) -> None:
        self._tech.pin_key(digit)

    def pin_backspace(self) -> None:
        self._tech.pin_backspace()

    def pin_submit(self) -> None:
        self._tech.pin_submit()

    def tech_test(self) -> None:
        """Test every device: connect afresh and show who answered (or why not)."""
        self._tech.test()

    def tech_pair(self) -> None:
        """Show how to put the device in its pairing window (-P- blinking)."""
        self._tech.pair()

    def tech_pair_start(self) -> None:
        """While the device's pairing sign blinks: bond every BLE device, and
        pin the one that answers where no address is configured."""
        self._tech.pair_start()

    def tech_pair_cancel(self) -> None:
        self._tech.pair_cancel()

    def tech_restart(self) -> None:
        """Ask the app to exit so its service manager starts it again."""
        self._tech.restart()
