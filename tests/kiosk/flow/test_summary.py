"""The end of a visit: every result of the visit on one screen, the most urgent
first (kiosk/flow/summary.py), reached from the last result of a visit with
more than one; a single result ends as before."""

from __future__ import annotations

import pytest

from healthkiosk.config import KioskConfig
from healthkiosk.errors import DeviceConnectionError
from kiosk.flow.state import Explanation, GlucoseResult, Screen, SummaryItem
from kiosk.flow.summary import glucose_item, most_urgent_first
from tests.support.fake_devices import BpOutcome, GlucoseOutcome, demo_card
from tests.support.flowkit import Harness


async def checked_in(h: Harness) -> None:
    h.flow.start_checkin()
    await h.settle()
    h.reader.present(demo_card())
    await h.screen(Screen.CONFIRM, max_s=1)
    h.flow.confirm()


async def blood_pressure(h: Harness, choice: str = "both") -> None:
    h.flow.choose(choice)  # type: ignore[arg-type]
    await h.until(lambda s: s.ready)
    h.flow.start_bp()
    await h.screen(Screen.RESULT)


async def glucose_next(h: Harness, meal: str = "after_meal") -> None:
    h.flow.next_glucose()
    h.flow.answer_meal(meal)  # type: ignore[arg-type]
    h.flow.start_glucose()
    await h.until(lambda s: s.screen is Screen.RESULT and s.glucose_result is not None)


async def test_urgent_pressure_and_normal_glucose_end_on_both_the_urgent_first(h: Harness) -> None:
    """Finding 9: the visit used to end on the glucose result alone, hiding the
    urgent blood pressure measured first."""
    h.bp.queue(BpOutcome(186, 116, 80), BpOutcome(184, 114, 78))
    h.glucose.queue(GlucoseOutcome(6.4))
    await checked_in(h)
    await blood_pressure(h)
    assert h.state.bp_result is not None and h.state.bp_result.urgent
    assert not h.flow.summary_next  # glucose is still to come
    await glucose_next(h)
    assert h.state.glucose_result is not None and h.state.glucose_result.category == "normal"
    assert h.flow.summary_next
    h.flow.finish()
    assert h.state.screen is Screen.SUMMARY
    assert [
        (i.kind, i.shown, i.category, i.urgent, i.advice, i.notes) for i in h.state.summary
    ] == [
        ("blood_pressure", "185/115", "grade_3", True, "advice.bp.urgent", ()),
        ("glucose", "6.4", "normal", False, "advice.glucose.normal", ()),
    ]
    assert not h.flow.summary_next
    h.flow.set_language("en")  # the summary stays, in the other language
    assert h.state.screen is Screen.SUMMARY and h.state.summary
    h.flow.finish()
    assert h.state.screen is Screen.DONE and not h.state.personal
    await h.settle()
    assert [o for o, _ in h.recorder.visits.values()] == ["completed"]


async def test_a_single_result_ends_without_a_summary(h: Harness) -> None:
    h.glucose.queue(GlucoseOutcome(5.2))
    await checked_in(h)
    h.flow.choose("glucose")
    h.flow.answer_meal("fasting")
    h.flow.start_glucose()
    await h.screen(Screen.RESULT)
    assert not h.flow.summary_next
    h.flow.finish()
    assert h.state.screen is Screen.DONE


async def test_stopping_after_the_first_of_two_ends_without_a_summary(h: Harness) -> None:
    h.bp.queue(BpOutcome(128, 84, 70), BpOutcome(126, 82, 70))
    await checked_in(h)
    await blood_pressure(h)
    h.flow.finish()  # glucose after all not: one result
    assert h.state.screen is Screen.DONE


async def test_every_result_of_the_visit_even_after_choosing_again(h: Harness) -> None:
    """Blood pressure, a glucose meter that loses its link, back to the choice,
    blood pressure again, then glucose: three results, the most urgent first,
    those measured first first among equals."""
    h.bp.queue(
        BpOutcome(150, 92, 70), BpOutcome(148, 90, 70),  # grade 1
        BpOutcome(166, 102, 70), BpOutcome(164, 100, 70),  # grade 2
    )  # fmt: skip
    h.glucose.queue(GlucoseOutcome(error=DeviceConnectionError("gone")), GlucoseOutcome(2.9))
    await checked_in(h)
    await blood_pressure(h)
    h.flow.next_glucose()
    h.flow.answer_meal("fasting")
    h.flow.start_glucose()
    await h.screen(Screen.ERROR)
    h.flow.back()
    assert h.state.screen is Screen.CHOOSE
    await blood_pressure(h)
    await glucose_next(h, "fasting")
    h.flow.finish()
    assert h.state.screen is Screen.SUMMARY
    assert [(i.shown, i.category, i.urgent) for i in h.state.summary] == [
        ("2.9", "very_low", True),
        ("165/101", "grade_2", False),
        ("149/91", "grade_1", False),
    ]
    assert len(h.recorder.saved) == 3


@pytest.mark.parametrize(
    "kiosk_config", [KioskConfig(idle_timeout_s=60, still_here_s=20, result_timeout_s=30, done_s=5)]
)
async def test_left_alone_the_summary_ends_the_visit_completed(h: Harness) -> None:
    h.bp.queue(BpOutcome(118, 76, 66), BpOutcome(116, 74, 64))
    h.glucose.queue(GlucoseOutcome(5.2))
    await checked_in(h)
    await blood_pressure(h)
    await glucose_next(h)
    h.flow.finish()
    assert h.state.screen is Screen.SUMMARY
    # the result screen's time to read, then "still here?"
    assert await h.until(lambda s: s.still_here_s is not None) == pytest.approx(30, abs=0.3)
    assert await h.screen(Screen.DONE) == pytest.approx(20, abs=0.3)
    assert not h.state.personal
    await h.settle()
    assert [o for o, _ in h.recorder.visits.values()] == ["completed"]


def _glucose(
    category: str, *, urgent: bool, close: bool, shown: str | None = None
) -> GlucoseResult:
    return GlucoseResult(
        mmol_per_l=None if shown else 17.0, shown=shown, meal="random", category=category,
        urgent=urgent, close_to_limit=close, rule="r", explanation=Explanation("e"),
        advice=f"advice.glucose.{category}", saved=True,
    )  # fmt: skip


def test_an_urgent_result_never_shows_near_the_limit_beside_it() -> None:
    """Finding 9: "near the limit: test again another day" beside an urgent
    glucose. Whatever the rules say, the summary keeps the urgent instruction only."""
    urgent = glucose_item(_glucose("very_high", urgent=True, close=True))
    assert urgent.notes == () and urgent.advice == "advice.glucose.very_high"
    plain = glucose_item(_glucose("high", urgent=False, close=True))
    assert plain.notes == ("result.close_to_limit",)
    assert glucose_item(_glucose("very_low", urgent=True, close=False, shown="LO")).shown == "LO"


def test_most_urgent_first_then_furthest_from_normal_then_as_measured() -> None:
    def item(shown: str, category: str, urgent: bool = False) -> SummaryItem:
        kind = "glucose" if "." in shown or shown in ("LO", "HI") else "blood_pressure"
        return SummaryItem(kind, shown, category, urgent, "a")  # type: ignore[arg-type]

    items = [
        item("118/76", "normal"),
        item("136/84", "high_normal"),
        item("6.5", "impaired_fasting"),
        item("145/92", "grade_1"),
        item("HI", "very_high", urgent=True),
        item("88/58", "low"),
        item("186/104", "grade_3", urgent=True),
    ]
    assert [i.shown for i in most_urgent_first(items)] == [
        "HI", "186/104", "145/92", "88/58", "136/84", "6.5", "118/76",
    ]  # fmt: skip
