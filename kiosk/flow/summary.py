"""The end of a visit: every result of the visit, the most urgent first.

A visit with blood pressure and glucose used to end on the glucose result
alone, so an urgent blood pressure measured first was off the screen when the
elder left. Now each saved result is kept for the visit
(:attr:`VisitRecord.results <kiosk.flow.context.VisitRecord.results>`) and,
when the visit has more than one, "Finish" on the last result screen leads to
the summary (:attr:`Screen.SUMMARY <kiosk.flow.state.Screen>`): each result
with its category word, colour and icon, and advice, the most urgent first;
"Finish" there ends the visit. Left untouched, it ends like a result screen
(``result_timeout_s``, "still here?", then the thank-you screen).

With a single result the result screen already shows every result of the
visit: a second screen repeating it would cost an 80-year-old one more tap
and say nothing new. :meth:`Summary.wanted` is the one place that decides;
the reminders and printing to come (issue #16) belong on this screen and
will make it wanted after a single result too.

An urgent result carries only the urgent instruction: no "near the limit:
test again another day" beside it (docs/clinical.md, "Wording on the kiosk").
"""

from __future__ import annotations

from collections.abc import Iterable

from kiosk.flow.context import FlowContext
from kiosk.flow.state import BpResult, GlucoseResult, ReadingKind, Screen, SummaryItem, VitalResult

SEVERITY: dict[str, int] = {
    "normal": 0,
    "high_normal": 1,
    "impaired_fasting": 1,
    "above_normal": 1,
    "low": 2,
    "grade_1": 2,
    "high": 2,
    "grade_2": 3,
    "grade_3": 4,
    "very_low": 4,
    "very_high": 4,
    "underweight": 1,
    "overweight": 1,
    "obese": 2,
    "low_fever": 1,
    "fever": 2,
    "high_fever": 3,
}
"""How far from normal each category is, in the order of the kiosk's words
(docs/clinical.md: 正常, 稍高, 偏高, 高, 很高); an urgent result comes first whatever
its category."""


def bp_item(r: BpResult) -> SummaryItem:
    notes = ("result.irregular",) if r.irregular_pulse else ()
    return _item("blood_pressure", f"{r.systolic}/{r.diastolic}", r.category, r.urgent,
                 r.advice, notes)  # fmt: skip


def glucose_item(r: GlucoseResult) -> SummaryItem:
    shown = r.shown or f"{r.mmol_per_l:.1f}"
    notes = ("result.close_to_limit",) if r.close_to_limit else ()
    return _item("glucose", shown, r.category, r.urgent, r.advice, notes)


def vital_item(r: VitalResult) -> SummaryItem:
    return _item(r.kind, r.shown, r.category, r.urgent, r.advice, ())


def _item(  # noqa: PLR0917  (one result's parts, in order)
    kind: ReadingKind, shown: str, category: str, urgent: bool, advice: str, notes: tuple[str, ...]
) -> SummaryItem:
    return SummaryItem(
        kind=kind,
        shown=shown,
        category=category,
        urgent=urgent,
        advice=advice,
        notes=() if urgent else notes,  # an urgent result: the urgent instruction only
    )


def most_urgent_first(items: Iterable[SummaryItem]) -> tuple[SummaryItem, ...]:
    """Urgent results first, then the furthest from normal; ties in the order measured."""
    return tuple(sorted(items, key=lambda i: (not i.urgent, -SEVERITY.get(i.category, 0))))


class Summary:
    def __init__(self, ctx: FlowContext) -> None:
        self._ctx = ctx

    def add(
        self,
        *,
        bp: BpResult | None = None,
        glucose: GlucoseResult | None = None,
        vital: VitalResult | None = None,
    ) -> None:
        """A saved result of this visit, shown on its result screen."""
        for item in (
            bp_item(bp) if bp else None,
            glucose_item(glucose) if glucose else None,
            vital_item(vital) if vital else None,
        ):
            if item is not None:
                self._ctx.visit.results.append(item)

    def wanted(self) -> bool:
        """Whether the visit ends on the summary (more than one result)."""
        return len(self._ctx.visit.results) > 1

    def show(self) -> None:
        """The summary screen: every result of the visit, the most urgent first."""
        ctx = self._ctx
        ctx.stop_countdown()
        ctx.idle_from_now()
        ctx.update(
            screen=Screen.SUMMARY,
            summary=most_urgent_first(ctx.visit.results),
            countdown_s=None,
            error=None,
        )
