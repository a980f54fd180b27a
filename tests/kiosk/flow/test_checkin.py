"""Check-in for an elder (#16): what is wrong with a typed number, named and
said as soon as it can be told; OK too early says how many are missing;
Clear; a returning resident greeted by masked name and last visit, by card
or typed number; "first visit" only when the store says so."""

from __future__ import annotations

from datetime import date

from kiosk.flow.checkin import typed_problem
from kiosk.flow.state import Screen
from kiosk.prompts import prompt_for
from kiosk.voice import Say
from tests.support.fake_devices import BpOutcome, demo_card
from tests.support.flowkit import Harness

from .test_visits import valid_number

TODAY = date(2026, 3, 1)


def type_in(h: Harness, chars: str) -> None:
    for ch in chars:
        h.flow.key(ch)


def spoken(h: Harness) -> list[object]:
    return prompt_for(h.state)[1]


def test_the_part_that_is_wrong_is_named_as_soon_as_it_is_typed() -> None:
    good = valid_number(region="110105", born="19500307", seq="123")
    for n in range(19):
        assert typed_problem(good[:n], today=TODAY) is None, n
    assert typed_problem("9", today=TODAY) is None  # one digit: could still be a province
    assert typed_problem("99", today=TODAY) == "id_region"
    assert typed_problem("99010519", today=TODAY) == "id_region"  # stays named while typed on
    assert typed_problem("1101051950130", today=TODAY) is None  # month 13: not yet whole
    assert typed_problem("11010519501301", today=TODAY) == "id_birth_date"
    assert typed_problem("11010520270101", today=TODAY) == "id_birth_date"  # not born yet
    assert typed_problem("11010518800101", today=TODAY) == "id_birth_date"
    wrong_last = good[:17] + ("0" if good[17] != "0" else "1")
    assert typed_problem(wrong_last, today=TODAY) == "id_check_digit"
    swapped = good[:7] + good[8] + good[7] + good[9:]  # two digits swapped in the middle
    if swapped != good:
        assert typed_problem(swapped, today=TODAY) in ("id_check_digit", "id_birth_date")


async def test_each_kind_of_wrong_number_is_shown_and_said(h: Harness) -> None:
    h.flow.start_checkin()
    await h.settle()
    number = valid_number()
    # too short: OK says so, and how many are missing is on the state
    type_in(h, number[:12])
    h.flow.submit_id()
    await h.settle()
    assert h.state.screen is Screen.CHECKIN and h.state.keypad_error == "id_length"
    assert spoken(h) == [Say("id_length")]
    h.flow.clear_keypad()
    assert h.state.keypad == "" and h.state.keypad_error is None
    # region: at the second digit
    type_in(h, "99")
    assert h.state.keypad_error == "id_region" and spoken(h) == [Say("id_region")]
    h.flow.backspace()
    assert h.state.keypad == "9" and h.state.keypad_error is None
    h.flow.clear_keypad()
    # birth date: at the fourteenth
    type_in(h, "11010519501301")
    assert h.state.keypad_error == "id_birth_date" and spoken(h) == [Say("id_birth_date")]
    h.flow.clear_keypad()
    # a digit wrong somewhere: only the check digit can tell
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    type_in(h, wrong)
    assert h.state.keypad_error == "id_check_digit" and not h.state.keypad_valid
    assert spoken(h) == [Say("id_check_digit")]
    h.flow.submit_id()  # OK on a wrong number: nothing happens
    await h.settle()
    assert h.state.screen is Screen.CHECKIN
    h.flow.backspace()
    h.flow.key(number[17])
    assert h.state.keypad_valid and h.state.keypad_error is None
    assert spoken(h) == [Say("checkin.card")]  # the prompt again once it is right


async def test_a_typed_number_of_a_returning_resident_is_greeted(h: Harness) -> None:
    number = valid_number()
    h.recorder.names[number] = "李建国"
    h.flow.start_checkin()
    type_in(h, number)
    h.flow.submit_id()
    await h.screen(Screen.CONFIRM, max_s=1)
    res = h.state.resident
    assert res is not None
    assert (res.masked_name, res.returning) == ("李*国", True)
    assert res.last_visit == date(2026, 3, 2)  # NAMED_SEEN, 09:30 in Beijing
    assert "李建国" not in repr(res.masked_name)


async def test_a_card_of_a_resident_seen_here_before_is_greeted_with_the_last_visit(
    h: Harness,
) -> None:
    h.flow.start_checkin()
    await h.settle()
    h.reader.present(demo_card())
    await h.screen(Screen.CONFIRM, max_s=1)
    first = h.state.resident
    assert first is not None and first.returning is False and first.last_visit is None
    assert first.masked_name == "王*英"
    # measure once: now this station has seen her
    h.bp.queue(BpOutcome(128, 82, 70), BpOutcome(126, 80, 70))
    h.flow.confirm()
    h.flow.choose("bp")
    await h.until(lambda s: s.ready)
    h.flow.start_bp()
    await h.screen(Screen.RESULT)
    measured = h.recorder.saved[-1].measured_at
    h.flow.finish()
    await h.screen(Screen.ATTRACT, max_s=60)
    h.flow.start_checkin()
    await h.settle()
    h.reader.present(demo_card())
    await h.screen(Screen.CONFIRM, max_s=1)
    again = h.state.resident
    assert again is not None and again.returning is True
    from zoneinfo import ZoneInfo

    assert again.last_visit == measured.astimezone(ZoneInfo("Asia/Shanghai")).date()


async def test_first_visit_only_when_the_store_says_so(h: Harness) -> None:
    h.recorder.unanswered = True
    h.flow.start_checkin()
    type_in(h, valid_number())
    h.flow.submit_id()
    await h.screen(Screen.CONFIRM, max_s=1)
    res = h.state.resident
    assert res is not None and res.returning is None  # not known: neither greeting


async def test_the_instruction_changes_once_the_cuff_fills(h: Harness) -> None:
    h.bp.queue(BpOutcome(128, 82, 70), BpOutcome(126, 80, 70))
    h.flow.start_checkin()
    await h.settle()
    h.reader.present(demo_card())
    await h.screen(Screen.CONFIRM, max_s=1)
    h.flow.confirm()
    h.flow.choose("bp")
    await h.until(lambda s: s.ready)
    h.flow.start_bp()
    await h.settle()
    assert h.state.screen is Screen.MEASURE_BP and not h.state.cuff_inflating
    await h.until(lambda s: (s.cuff_mmhg or 0) >= 10)
    assert h.state.cuff_inflating
    await h.screen(Screen.BP_PAUSE)
    assert not h.state.cuff_inflating or h.state.screen is not Screen.MEASURE_BP
    await h.screen(Screen.MEASURE_BP)
    assert not h.state.cuff_inflating  # each reading starts with "press start" again
    await h.screen(Screen.RESULT)
    trend = h.state.trend
    assert trend and all(p.day == date(2026, 3, 1) for p in trend)  # Beijing's day
