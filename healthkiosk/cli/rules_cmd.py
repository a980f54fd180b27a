"""``healthkiosk rules``: see how the configured clinical rules classify a reading."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from healthkiosk.rules import Classification, RulesConfig


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("rules", help="the clinical rules (classify a reading)")
    sub = p.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    c = sub.add_parser(
        "classify",
        help="classify one reading and print one JSON object (category, urgent, rule, threshold)",
    )
    kinds = c.add_subparsers(dest="kind", metavar="KIND", required=True)
    bp = kinds.add_parser("blood_pressure", help="SYS DIA in whole mmHg")
    bp.add_argument("systolic", type=int, metavar="SYS")
    bp.add_argument("diastolic", type=int, metavar="DIA")
    bp.add_argument("--pulse", type=int, default=None, metavar="BPM")
    bp.set_defaults(handler=_classify_bp)
    gl = kinds.add_parser("glucose", help="MMOL in mmol/L (or LO / HI as the meter shows)")
    gl.add_argument("value", metavar="MMOL")
    meal = gl.add_mutually_exclusive_group()
    meal.add_argument("--fasting", dest="meal", action="store_const", const="fasting")
    meal.add_argument("--random", dest="meal", action="store_const", const="random")
    gl.set_defaults(handler=_classify_glucose, meal="random")
    _register_vitals(kinds)


def _register_vitals(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """BMI, SpO2 and temperature (issue #17), each exit 0 with one JSON object,
    or exit 2 with one line on stderr for an implausible value."""
    bmi = kinds.add_parser("bmi", help="BMI (kg/m²), or --weight KG --height M")
    bmi.add_argument("value", type=float, nargs="?", metavar="BMI")
    bmi.add_argument("--weight", type=float, metavar="KG")
    bmi.add_argument("--height", type=float, metavar="M")
    bmi.set_defaults(handler=_classify_bmi)
    spo2 = kinds.add_parser("spo2", help="SpO2 in percent")
    spo2.add_argument("value", type=float, metavar="PERCENT")
    spo2.add_argument("--pulse", type=int, default=None, metavar="BPM")
    spo2.set_defaults(handler=_classify_spo2)
    temp = kinds.add_parser("temperature", help="body temperature in °C")
    temp.add_argument("value", type=float, metavar="CELSIUS")
    temp.add_argument("--age", type=int, default=None, metavar="YEARS")
    temp.set_defaults(handler=_classify_temperature)


def _rules(args: argparse.Namespace) -> RulesConfig:
    from healthkiosk.cli.common import load
    from healthkiosk.rules import load_rules

    return load_rules(load(args, log=False).rules)


def _emit(result: dict[str, object]) -> int:
    import json

    print(json.dumps(result, ensure_ascii=False, sort_keys=True))
    return 0


def _classify_bp(args: argparse.Namespace) -> int:
    import sys

    from healthkiosk.errors import ImplausibleValueError
    from healthkiosk.rules import classify_blood_pressure

    rules = _rules(args)
    try:
        c = classify_blood_pressure(
            args.systolic, args.diastolic, rules.blood_pressure, pulse=args.pulse
        )
    except ImplausibleValueError as err:
        print(f"healthkiosk: implausible ({err.reason}): {err}", file=sys.stderr)
        return 2
    return _emit(c.as_dict())


def _classify_glucose(args: argparse.Namespace) -> int:
    import sys

    from healthkiosk.errors import ImplausibleValueError
    from healthkiosk.rules import classify_glucose, classify_glucose_out_of_range

    rules = _rules(args)
    shown = str(args.value).strip().upper()
    if shown in ("LO", "HI"):
        c = classify_glucose_out_of_range("LO" if shown == "LO" else "HI", rules.glucose)
        return _emit(c.as_dict())
    try:
        value = float(args.value)
    except ValueError:
        print(f"healthkiosk: not a number: {args.value!r}", file=sys.stderr)
        return 2
    try:
        c = classify_glucose(value, args.meal, rules.glucose)
    except ImplausibleValueError as err:
        print(f"healthkiosk: implausible ({err.reason}): {err}", file=sys.stderr)
        return 2
    return _emit(c.as_dict())


def _implausible(run: Callable[[], Classification]) -> int:
    import sys

    from healthkiosk.errors import ImplausibleValueError

    try:
        c = run()
    except ImplausibleValueError as err:
        print(f"healthkiosk: implausible ({err.reason}): {err}", file=sys.stderr)
        return 2
    return _emit(c.as_dict())


def _classify_bmi(args: argparse.Namespace) -> int:
    import sys

    from healthkiosk.rules import classify_bmi, classify_weight

    rules = _rules(args).bmi
    if args.value is not None:
        return _implausible(lambda: classify_bmi(args.value, rules))
    if args.weight is None or args.height is None:
        print("healthkiosk: give BMI, or --weight KG and --height M", file=sys.stderr)
        return 2
    return _implausible(lambda: classify_weight(args.weight, args.height, rules))


def _classify_spo2(args: argparse.Namespace) -> int:
    from healthkiosk.rules import classify_spo2

    rules = _rules(args).spo2
    return _implausible(lambda: classify_spo2(args.value, rules, pulse_bpm=args.pulse))


def _classify_temperature(args: argparse.Namespace) -> int:
    from healthkiosk.rules import classify_temperature

    rules = _rules(args).temperature
    return _implausible(lambda: classify_temperature(args.value, rules, age=args.age))
