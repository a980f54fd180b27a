"""Calls for staff (issue 16): an urgent result brings a person; 呼叫工作人员
from an error; acknowledged at the station or from the web."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest

from healthkiosk.errors import DeviceConnectionError, StoreError
from kiosk.flow.help import ACKNOWLEDGED_SHOWN_S, POLL_S
from kiosk.flow.ports import HelpAck, HelpCallRecord
from kiosk.flow.state import Screen
from tests.kiosk.flow.test_errors import ready_to_choose, start_bp, start_glucose
from tests.support.fake_devices import BpOutcome, GlucoseOutcome, demo_card
from tests.support.flowkit import Harness


async def test_an_urgent_result_calls_staff_at_once(h: Harness) -> None:
    h.bp.queue(BpOutcome(186, 116, 80), BpOutcome(184, 114, 78))
    h.glucose.queue(GlucoseOutcome(2.9))
    await ready_to_choose(h)
    h.flow.choose("both")
    await h.until(lambda s: s.ready)
    h.flow.start_bp()
    await h.screen(Screen.RESULT)
    assert h.state.bp_result is not None and h.state.bp_result.urgent
    # On the result screen, at once: the chime and lamp, and the screen says so.
    assert h.alert.events == ["alert"]
    help_ = h.state.help
    assert help_ is not None and help_.reason == "urgent_result" and help_.screen == "result"
    await h.settle()
    assert h.state.help is not None and h.state.help.status == "called"
    (call,) = h.help_desk.calls
    assert (call.reason, call.screen, call.detail) == (
        "urgent_result", "result", "blood_pressure:grade_3"
    )  # fmt: skip
    assert h.flow.help_open
    # A second urgent result while the call is open: no second call.
    h.flow.next_glucose()
    h.flow.answer_meal("fasting")
    h.flow.start_glucose()
    await h.until(lambda s: s.screen is Screen.RESULT and s.glucose_result is not None)
    assert h.state.glucose_result is not None and h.state.glucose_result.urgent
    assert len(h.help_desk.calls) == 1 and h.alert.events == ["alert"]


async def test_a_normal_result_calls_nobody(h: Harness) -> None:
    h.bp.queue(BpOutcome(118, 76, 64), BpOutcome(116, 74, 62))
    await ready_to_choose(h)
    await start_bp(h)
    await h.screen(Screen.RESULT)
    await h.settle()
    assert h.state.help is None and h.help_desk.calls == [] and h.alert.events == []


async def test_a_staff_call_from_an_error_acknowledged_from_the_web(h: Harness) -> None:
    h.glucose.queue(GlucoseOutcome(error=DeviceConnectionError("gone")))
    await ready_to_choose(h)
    await start_glucose(h)
    await h.screen(Screen.ERROR)
    assert h.state.error is not None and h.state.error.actions[0] == "call_staff"
    h.flow.call_staff()
    h.flow.call_staff()  # pressed twice: one call
    await h.settle()
    (call,) = h.help_desk.calls
    assert (call.reason, call.screen, call.detail) == ("staff_call", "error", "link_lost")
    assert h.state.help is not None and h.state.help.status == "called"
    # An acknowledgement of another call changes nothing.
    other = HelpAck(call="someone-else", at=h.clock.now(), by="dr-li", where="web")
    h.help_desk.from_web.append(other)
    await h.clock.advance(POLL_S * 2)
    assert h.state.help.status == "called" and h.alert.events == ["alert"]
    # The doctor acknowledges on the web: the kiosk hears it, the lamp goes out.
    ack = HelpAck(call=call.id, at=h.clock.now(), by="dr-li", where="web")
    h.help_desk.from_web.append(ack)
    await h.clock.advance(POLL_S * 2)
    assert h.state.help is not None and h.state.help.status == "acknowledged"
    assert h.alert.events == ["alert", "clear"]
    assert h.help_desk.acks == [ack]  # goes back to the doctor's side with the call
    assert not h.flow.help_open
    # The words stay a while, then go.
    await h.clock.advance(ACKNOWLEDGED_SHOWN_S + 2 * POLL_S)
    assert h.state.help is None


async def test_acknowledged_at_the_station_and_outliving_the_visit(h: Harness) -> None:
    await ready_to_choose(h)
    await h.screen(Screen.CHOOSE)
    h.flow.call_staff()  # stuck on the choice
    await h.settle()
    assert h.help_desk.calls[0].screen == "choose" and h.help_desk.calls[0].detail == ""
    h.flow.back()  # the elder leaves: finish, thank-you, attract
    await h.until(lambda s: s.screen is Screen.ATTRACT, max_s=60)
    assert h.state.help is not None and h.state.help.status == "called"
    assert not h.state.personal
    h.flow.staff_here()
    await h.settle()
    (ack,) = h.help_desk.acks
    assert (ack.call, ack.where, ack.by) == (h.help_desk.calls[0].id, "station", "kiosk")
    assert h.alert.events == ["alert", "clear"]
    assert h.state.help is not None and h.state.help.status == "acknowledged"


async def test_the_technician_acknowledges_from_their_screen(h: Harness) -> None:
    h.flow.call_staff()  # from the attract screen
    await h.settle()
    h.flow.tech_help_ack()  # not on the technician's screen: nothing
    assert h.help_desk.acks == []
    h.flow.open_technician()
    for d in "2468":
        h.flow.pin_key(d)
    h.flow.pin_submit()
    await h.screen(Screen.TECHNICIAN)
    h.flow.tech_help_ack()
    await h.settle()
    assert [(a.where, a.by) for a in h.help_desk.acks] == [("station", "technician")]


async def test_a_call_the_desk_cannot_keep_still_alerts_and_says_so(h: Harness) -> None:
    async def refuse(record: HelpCallRecord) -> None:
        raise StoreError("disk full")

    h.help_desk.call = refuse  # type: ignore[method-assign]

    def broken() -> None:
        raise OSError("no GPIO")

    h.alert.clear = broken  # type: ignore[method-assign]
    h.flow.call_staff()
    await h.settle()
    assert h.alert.events == ["alert"]
    assert h.state.help is not None and h.state.help.status == "failed"
    assert h.flow.help_open  # still waiting for a person
    h.flow.staff_here()  # the lamp that will not go out does not stop the kiosk
    await h.settle()
    assert h.state.help is not None and h.state.help.status == "acknowledged"
    assert h.clock.now() - h.help_desk.acks[0].at < timedelta(seconds=1)


# --- an urgent result waits for the staff it called (issue 16) -----------------


async def urgent_bp_result(h: Harness) -> None:
    h.bp.queue(BpOutcome(186, 116, 80), BpOutcome(184, 114, 78))
    await ready_to_choose(h)
    await start_bp(h)
    await h.screen(Screen.RESULT)
    await h.settle()
    assert h.state.help is not None and h.state.help.status == "called"


async def left_alone(h: Harness, seconds: float) -> list[tuple[Screen, int | None]]:
    """Advance ``seconds`` untouched; what the screen showed on the way."""
    seen = []
    for _ in range(round(seconds / 0.5)):
        await h.clock.advance(0.5)
        seen.append((h.state.screen, h.state.still_here_s))
    return seen


async def test_an_urgent_result_waits_for_staff_then_times_out_as_usual(h: Harness) -> None:
    """The screen told the elder to sit and wait: while the call is open, no
    "still here?" and no end of the visit; from the web's acknowledgement on,
    result_timeout_s (45) then still_here_s (20), as on any result."""
    await urgent_bp_result(h)
    seen = await left_alone(h, 10 * (45 + 20))  # ten times what ends a result screen
    assert set(seen) == {(Screen.RESULT, None)}
    assert h.state.bp_result is not None and h.recorder.visits == {}  # the visit goes on
    (call,) = h.help_desk.calls
    h.help_desk.from_web.append(HelpAck(call=call.id, at=h.clock.now(), by="dr-li", where="web"))
    await h.until(lambda s: s.help is not None and s.help.status == "acknowledged")
    assert await h.until(lambda s: s.still_here_s is not None) == pytest.approx(45, abs=0.3)
    assert h.state.screen is Screen.RESULT
    assert await h.screen(Screen.DONE) == pytest.approx(20, abs=0.3)
    assert [o for o, _ in h.recorder.visits.values()] == ["completed"]


async def test_acknowledged_at_the_station_the_urgent_result_times_out_as_usual(
    h: Harness,
) -> None:
    await urgent_bp_result(h)
    await left_alone(h, 300)
    assert h.state.screen is Screen.RESULT and h.state.still_here_s is None
    h.flow.tech_help_ack()  # not the technician's screen: nothing
    h.flow.staff_here()  # the staff at the kiosk
    await h.settle()
    assert h.state.help is not None and h.state.help.status == "acknowledged"
    asked = await h.until(lambda s: s.still_here_s is not None)
    assert asked == pytest.approx(45, abs=0.3)
    assert await h.screen(Screen.DONE) == pytest.approx(20, abs=0.3)


async def test_a_call_the_desk_could_not_keep_still_holds_the_urgent_result(h: Harness) -> None:
    async def refuse(record: HelpCallRecord) -> None:
        raise StoreError("disk full")

    h.help_desk.call = refuse  # type: ignore[method-assign]
    h.bp.queue(BpOutcome(186, 116, 80), BpOutcome(184, 114, 78))
    await ready_to_choose(h)
    await start_bp(h)
    await h.screen(Screen.RESULT)
    await h.settle()
    assert h.state.help is not None and h.state.help.status == "failed"  # the bell rang
    assert set(await left_alone(h, 200)) == {(Screen.RESULT, None)}


async def test_the_summary_of_an_urgent_visit_waits_for_staff_too(h: Harness) -> None:
    """Blood pressure urgent, then glucose (normal): the glucose result and the
    summary are held while the call is open; Finish still ends the visit."""
    h.bp.queue(BpOutcome(186, 116, 80), BpOutcome(184, 114, 78))
    h.glucose.queue(GlucoseOutcome(5.2))
    await ready_to_choose(h)
    h.flow.choose("both")
    await h.until(lambda s: s.ready)
    h.flow.start_bp()
    await h.screen(Screen.RESULT)
    h.flow.next_glucose()
    h.flow.answer_meal("fasting")
    h.flow.start_glucose()
    await h.until(lambda s: s.screen is Screen.RESULT and s.glucose_result is not None)
    assert h.state.glucose_result is not None and not h.state.glucose_result.urgent
    assert set(await left_alone(h, 150)) == {(Screen.RESULT, None)}
    h.flow.finish()  # all results
    assert h.state.screen is Screen.SUMMARY and h.state.summary[0].urgent
    assert set(await left_alone(h, 150)) == {(Screen.SUMMARY, None)}
    h.flow.finish()
    assert h.state.screen is Screen.DONE
    assert h.state.help is not None and h.state.help.open  # still open after the visit


async def test_a_staff_call_on_a_normal_result_leaves_its_timeout_alone(h: Harness) -> None:
    """Only an urgent result holds the screen: a call pressed on a normal
    result is kept (it outlives the visit), and the result ends as usual."""
    h.bp.queue(BpOutcome(118, 76, 64), BpOutcome(116, 74, 62))
    await ready_to_choose(h)
    await start_bp(h)
    await h.screen(Screen.RESULT)
    h.flow.call_staff()
    await h.settle()
    (call,) = h.help_desk.calls
    assert (call.reason, call.screen, call.detail) == ("staff_call", "result",
                                                       "blood_pressure:normal")  # fmt: skip
    assert h.state.help is not None and h.state.help.screen == "result"
    assert await h.until(lambda s: s.still_here_s is not None) == pytest.approx(45, abs=0.3)
    await h.screen(Screen.DONE)
    await h.screen(Screen.ATTRACT)
    assert h.state.help is not None and h.state.help.open and not h.state.personal


# --- 呼叫工作人员 where the elder may be stuck: the call names the screen ----------


async def test_a_call_from_the_keypad_names_what_is_wrong_with_the_number(h: Harness) -> None:
    h.flow.start_checkin()
    await h.settle()
    for ch in "99":
        h.flow.key(ch)
    assert h.state.keypad_error == "id_region"
    h.flow.call_staff()
    await h.settle()
    (call,) = h.help_desk.calls
    assert (call.reason, call.screen, call.detail) == ("staff_call", "checkin", "id_region")
    assert h.state.help is not None and h.state.help.screen == "checkin"
    assert h.state.screen is Screen.CHECKIN and h.state.keypad == "99"  # nothing else changes
    # what was typed stays on the kiosk: the call's words are the three above,
    # the rest a random id and a time (a repr could hold "99" in either)
    assert {f.name for f in dataclasses.fields(call)} == {
        "id",
        "reason",
        "screen",
        "detail",
        "called_at",
    }
    assert uuid.UUID(call.id).version == 4


async def test_a_call_from_the_confirm_screen(h: Harness) -> None:
    h.flow.start_checkin()
    await h.settle()
    h.reader.present(demo_card())
    await h.screen(Screen.CONFIRM, max_s=1)
    h.flow.call_staff()
    await h.settle()
    (call,) = h.help_desk.calls
    assert (call.reason, call.screen, call.detail) == ("staff_call", "confirm", "")
    assert h.state.screen is Screen.CONFIRM and h.state.resident is not None


async def test_a_call_from_the_summary_names_its_most_urgent_result(h: Harness) -> None:
    h.bp.queue(BpOutcome(150, 92, 70), BpOutcome(148, 90, 70))
    h.glucose.queue(GlucoseOutcome(5.2))
    await ready_to_choose(h)
    h.flow.choose("both")
    await h.until(lambda s: s.ready)
    h.flow.start_bp()
    await h.screen(Screen.RESULT)
    h.flow.next_glucose()
    h.flow.answer_meal("fasting")
    h.flow.start_glucose()
    await h.until(lambda s: s.screen is Screen.RESULT and s.glucose_result is not None)
    h.flow.finish()
    assert h.state.screen is Screen.SUMMARY
    h.flow.call_staff()
    await h.settle()
    (call,) = h.help_desk.calls
    assert (call.screen, call.detail) == ("summary", "blood_pressure:grade_1")
