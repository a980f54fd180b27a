"""``healthkiosk rules``: see how the configured clinical rules classify a reading."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from healthkiosk.rules import RulesConfig


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
