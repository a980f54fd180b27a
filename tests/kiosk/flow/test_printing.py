"""The take-home slip in the flow: printed when the elder finishes, offered
again on the thank-you screen, never blocking it, failures said plainly; no
printer, or a visit that ended by itself: nothing printed."""

from __future__ import annotations

import asyncio

import pytest

from healthkiosk.config import KioskConfig
from healthkiosk.errors import DeviceConnectionError, PrinterError, PrinterProblem
from healthkiosk.rules import RulesConfig
from kiosk.flow.printing import draw, slip_for_visit
from kiosk.flow.state import PrintStatus, Screen, State
from kiosk.slip.model import SlipSettings
from tests.support.fake_devices import BpOutcome, FakePrinter, demo_card
from tests.support.flowkit import Harness, running_harness


async def bp_result(h: Harness, *outcomes: BpOutcome) -> None:
    """Card check-in, blood pressure, the result screen."""
    h.bp.queue(*(outcomes or (BpOutcome(128, 82, 70), BpOutcome(133, 85, 72))))
    h.flow.start_checkin()
    await h.settle()
    h.reader.present(demo_card())
    await h.screen(Screen.CONFIRM, max_s=1)
    h.flow.confirm()
    await h.settle()
    h.flow.choose("bp")
    await h.until(lambda s: s.ready)
    h.flow.start_bp()
    await h.screen(Screen.RESULT)


async def print_status(h: Harness, status: PrintStatus, *, within_s: float = 20.0) -> None:
    """Wait (real time: the slip is drawn in a worker thread) for ``status``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while h.state.print_status != status:
        assert loop.time() < deadline, h.state
        await asyncio.sleep(0.02)
    await h.settle()


async def test_finishing_a_visit_prints_its_slip_and_offers_it_again(
    kiosk_config: KioskConfig, rules: RulesConfig
) -> None:
    printer = FakePrinter()
    async with running_harness(kiosk_config, rules, printer=printer) as h:
        await bp_result(h)
        shown = h.state.bp_result
        at = h.clock.now()
        h.flow.finish()
        assert h.state.screen is Screen.DONE
        assert (h.state.print_status, h.state.can_print) == ("printing", False)
        h.flow.print_slip()  # already printing: not twice
        await print_status(h, "printed")
        assert h.state.can_print and not h.state.personal
        assert len(printer.printed) == 1
        # The slip printed is this visit's: the result shown, the name masked.
        assert shown is not None
        expected = slip_for_visit(
            SlipSettings(station=""),
            name="王秀英",
            results=[shown],
            history=[],
            at=at,
        )
        assert expected.name == "王*英"
        assert printer.printed[0] == await asyncio.to_thread(draw, expected, 384)
        # Printed again from the thank-you screen, which stays done_s after each slip.
        await h.clock.advance(kiosk_config.done_s - 1)
        assert h.state.screen is Screen.DONE
        h.flow.print_slip()
        assert h.state.print_status == "printing"
        await print_status(h, "printed")
        assert printer.printed[1] == printer.printed[0]
        await h.clock.advance(kiosk_config.done_s - 1)
        assert h.state.screen is Screen.DONE
        await h.clock.advance(1.5)
        assert h.state.screen is Screen.ATTRACT
        h.flow.print_slip()  # the slip went with the thank-you screen
        await asyncio.sleep(0.1)
        assert len(printer.printed) == 2 and h.state.print_status is None
        (outcome,) = h.recorder.visits.values()
        assert outcome[0] == "completed"


async def test_the_thank_you_screen_waits_for_a_slow_printer(
    kiosk_config: KioskConfig, rules: RulesConfig
) -> None:
    printer = FakePrinter()
    printer.gate = asyncio.Event()
    async with running_harness(kiosk_config, rules, printer=printer) as h:
        await bp_result(h)
        h.flow.finish()
        await h.clock.advance(120)  # far beyond done_s: still printing
        assert h.state.screen is Screen.DONE and h.state.print_status == "printing"
        printer.gate.set()
        await print_status(h, "printed")
        await h.clock.advance(kiosk_config.done_s + 0.5)
        assert h.state.screen is Screen.ATTRACT


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (PrinterError("empty", problem=PrinterProblem.NO_PAPER), "no_paper"),
        (PrinterError("lid", problem=PrinterProblem.COVER_OPEN), "failed"),
        (PrinterError("silent", problem=PrinterProblem.NO_ANSWER), "failed"),
        (DeviceConnectionError("cable out", reason="link_lost"), "failed"),
    ],
)
async def test_a_slip_that_cannot_be_printed_is_said_plainly_and_can_be_tried_again(
    kiosk_config: KioskConfig, rules: RulesConfig, error: Exception, status: PrintStatus
) -> None:
    printer = FakePrinter()
    printer.errors.append(error)  # type: ignore[arg-type]
    async with running_harness(kiosk_config, rules, printer=printer) as h:
        await bp_result(h)
        h.flow.finish()
        await print_status(h, status)
        assert h.state.screen is Screen.DONE and h.state.error is None  # never an error screen
        assert h.state.can_print and printer.printed == []
        h.flow.print_slip()  # paper put in, cable back: again
        await print_status(h, "printed")
        assert len(printer.printed) == 1
        assert len(h.recorder.saved) == 1  # the visit itself is saved, whatever the printer


async def test_without_a_printer_the_thank_you_screen_is_as_before(h: Harness) -> None:
    await bp_result(h)
    h.flow.finish()
    await h.settle()
    assert h.state.screen is Screen.DONE
    assert (h.state.print_status, h.state.can_print) == (None, False)
    h.flow.print_slip()
    await h.settle()
    assert h.state.print_status is None


async def test_a_visit_that_ended_by_itself_prints_nothing(
    kiosk_config: KioskConfig, rules: RulesConfig
) -> None:
    printer = FakePrinter()
    async with running_harness(kiosk_config, rules, printer=printer) as h:
        await bp_result(h)
        await h.screen(Screen.DONE)  # nobody touched the result screen: it ends by itself
        await asyncio.sleep(0.2)
        assert printer.printed == [] and h.state.print_status is None
        assert not h.state.can_print


async def test_a_visit_finished_without_a_result_prints_nothing(
    kiosk_config: KioskConfig, rules: RulesConfig
) -> None:
    printer = FakePrinter()
    async with running_harness(kiosk_config, rules, printer=printer) as h:
        h.flow.start_checkin()
        await h.settle()
        h.reader.present(demo_card())
        await h.screen(Screen.CONFIRM, max_s=1)
        h.flow.confirm()
        await h.settle()
        h.flow.back()  # from the choice: finished, nothing measured
        await h.settle()
        assert h.state.screen is Screen.DONE
        await asyncio.sleep(0.2)
        assert printer.printed == [] and h.state.print_status is None


async def test_the_technician_tests_the_printer_too(
    kiosk_config: KioskConfig, rules: RulesConfig
) -> None:
    printer = FakePrinter()
    printer.check_error = PrinterError("empty", problem=PrinterProblem.NO_PAPER)
    async with running_harness(kiosk_config, rules, printer=printer) as h:
        h.flow.open_technician()
        for ch in kiosk_config.technician_pin:
            h.flow.pin_key(ch)
        h.flow.pin_submit()
        await h.until(lambda s: s.tech is not None, max_s=5)
        assert h.state.tech is not None
        assert ("printer", "ready") in {(d.role, d.state) for d in h.state.tech.devices}
        h.flow.tech_test()

        def tested_all(s: State) -> bool:
            return s.tech is not None and not s.tech.testing and s.tech.devices[0].state == "ok"

        await h.until(tested_all, max_s=60)
        tested = {d.role: d for d in h.state.tech.devices}
        assert (tested["printer"].state, tested["printer"].detail) == ("failed", "no_paper")
        assert tested["blood_pressure"].state == "ok"
