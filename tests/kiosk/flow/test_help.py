"""Calls for staff (issue 16): an urgent result brings a person; 呼叫工作人员
from an error; acknowledged at the station or from the web."""

from __future__ import annotations

from datetime import timedelta

from healthkiosk.errors import DeviceConnectionError, StoreError
from kiosk.flow.help import ACKNOWLEDGED_SHOWN_S, POLL_S
from kiosk.flow.ports import HelpAck, HelpCallRecord
from kiosk.flow.state import Screen
from tests.kiosk.flow.test_errors import ready_to_choose, start_bp, start_glucose
from tests.support.fake_devices import BpOutcome, GlucoseOutcome
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
