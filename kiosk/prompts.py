"""What the kiosk says on each screen (keys of :mod:`kiosk.app.texts`).

:func:`prompt_for` returns a *cue* (the utterance changes only when the cue
does, so countdown ticks are not repeated aloud) and the parts to speak.
The "still here?" countdown is spoken when it appears and at 10 s and 5 s
left: the question and the seconds, never every tick.
"""

from __future__ import annotations

from kiosk.flow.kinds import category_key, name_key, unit_key
from kiosk.flow.state import Screen, State
from kiosk.voice import Number, Part, Say

STILL_HERE_SPOKEN_AT = (10, 5)
"""Seconds left at which the "still here?" question is said again."""

_SIMPLE = {
    Screen.CONFIRM: ["confirm.title"],
    Screen.CHOOSE: ["choose.title"],
    Screen.BP_PAUSE: ["bp_pause.spoken"],
    Screen.GLUCOSE_MEAL: ["glucose_meal.title"],
    Screen.PREP_GLUCOSE: ["prep_glucose.body"],
    Screen.MEASURE_GLUCOSE: ["measure_glucose.body"],
    Screen.MEASURE_WEIGHT: ["measure_weight.body"],
    Screen.HEIGHT: ["height.prompt"],
    Screen.MEASURE_SPO2: ["measure_spo2.body"],
    Screen.MEASURE_TEMPERATURE: ["measure_temperature.body"],
    Screen.DONE: ["done.title", "done.body", "summary.reminder"],
    Screen.TECH_PIN: [],
    Screen.TECHNICIAN: [],
    Screen.SAVING: [],
    Screen.ATTRACT: [],
}


def prompt_for(state: State) -> tuple[tuple[object, ...], list[Part]]:
    """The screen's own words, and a call for staff's news when it changes."""
    cue, parts = _screen_prompt(state)
    h = state.help
    if h is None or state.still_here_s is not None or _urgent_result(state):
        return cue, parts  # the urgent result says what happens now itself
    return (*cue, h.status), [*parts, Say(f"help.{h.status}")]


def _urgent_result(state: State) -> bool:
    """An urgent result is on the screen."""
    shown = state.vital_result or state.glucose_result or state.bp_result
    return state.screen is Screen.RESULT and shown is not None and shown.urgent


def _screen_prompt(state: State) -> tuple[tuple[object, ...], list[Part]]:
    s = state.screen
    if state.still_here_s is not None:
        return _still_here(state, state.still_here_s)
    cue: tuple[object, ...] = (s, state.language)
    if s is Screen.CHECKIN:
        if state.keypad_error:  # what is wrong with the number, said as it shows
            return (*cue, state.keypad_error, state.keypad), [Say(state.keypad_error)]
        return cue, [Say(checkin_key(state))]
    if s is Screen.MEASURE_BP:  # "press start", then "keep still" once the cuff fills
        key = "measure_bp.inflating" if state.cuff_inflating else "measure_bp.body"
        return (*cue, state.bp_reading_no, key), [Say(key)]
    if s is Screen.PREP_BP:
        return (*cue, state.ready), [Say("prep_bp.ready" if state.ready else "prep_bp.body")]
    if s is Screen.ERROR and state.error is not None:
        return (*cue, state.error.key), [Say(f"error.{state.error.key}")]
    if s is Screen.RESULT:
        return (*cue, state.bp_result, state.glucose_result, state.vital_result), _result(state)
    if s is Screen.SUMMARY:
        return (*cue, state.summary), _summary(state)
    if s is Screen.DONE and state.print_status not in (None, "printing"):
        # The slip is out (take it), or could not be printed (tell the staff).
        return (*cue, state.print_status), [Say(f"print.{state.print_status}")]
    return cue, [Say(k) for k in _SIMPLE.get(s, [])]


def _still_here(state: State, left: int) -> tuple[tuple[object, ...], list[Part]]:
    """The question and the seconds left, when it appears and again at each of
    :data:`STILL_HERE_SPOKEN_AT` (the cue changes only then, not every second)."""
    mark = min((m for m in STILL_HERE_SPOKEN_AT if left <= m), default=None)
    cue = (state.screen, "still_here", state.language, mark)
    return cue, [Say("still_here.title"), Number(left), Say("still_here.spoken")]


def _result(state: State) -> list[Part]:
    parts: list[Part] = [Say("result.title")]
    g, bp, v = state.glucose_result, state.bp_result, state.vital_result
    if v is not None:
        parts += [Number(float(v.shown), 0 if v.kind == "spo2" else 1), Say(unit_key(v.kind))]
        parts += [Say(category_key(v.kind, v.category)), Say(v.advice)]
    elif g is not None:
        if g.mmol_per_l is not None:
            parts += [Number(g.mmol_per_l, 1), Say("result.glucose_unit")]
        parts.append(Say(f"cat.glucose.{g.category}"))
        parts.append(Say(g.advice))
    elif bp is not None:
        parts += [Number(bp.systolic), Number(bp.diastolic), Say("result.bp_unit")]
        parts.append(Say(f"cat.bp.{bp.category}"))
        parts.append(Say(bp.advice))
        if bp.irregular_pulse:
            parts.append(Say("result.irregular"))
    if _urgent_result(state):
        parts.append(Say("result.urgent_now"))  # what happens now (issue 16)
    return parts


def _summary(state: State) -> list[Part]:
    """The title and each result's category and advice, the most urgent first
    (the numbers were said on each result screen)."""
    parts: list[Part] = [Say("summary.title")]
    for item in state.summary:
        parts += [
            Say(name_key(item.kind)),
            Say(category_key(item.kind, item.category)),
            Say(item.advice),
        ]
    parts.append(Say("summary.reminder"))
    return parts


def spoken(state: State) -> bool:
    """Whether the screen says something (it then offers "Repeat")."""
    return bool(prompt_for(state)[1])


def checkin_key(state: State) -> str:
    """The check-in title (shown and spoken) names every way in that is waiting."""
    if state.qr_reader:
        return "checkin.qr"
    return "checkin.card" if state.card_reader else "checkin.type"
