"""``healthkiosk rules``: check a rule set; see how the configured clinical
rules classify a reading.

``rules check FILE``: the ``[rules]`` table of any configuration file (a file
holding only that is enough; none means the defaults) and the doctor's side's
``[followup.rule_sets.<name>]``, with every check of
:mod:`healthkiosk.rules.check`, and the kiosk's words for every category in
every language. Exit 0 printing each rule set's name and digest, or exit 2
printing one line per problem, each starting with its key.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from healthkiosk.rules import Classification, Problem, RulesConfig


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("rules", help="the clinical rules (check a rule set, classify)")
    sub = p.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    k = sub.add_parser(
        "check",
        help="check the [rules] tables of a configuration file: exit 0, or 2 and one line "
        "per problem naming its key",
    )
    k.add_argument("file", type=Path, metavar="FILE")
    k.set_defaults(handler=_check)
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


def _rule_sets(data: dict[str, Any]) -> list[tuple[str, Any]]:
    """(key prefix, table) of every rule set in a configuration file's mapping."""
    out: list[tuple[str, Any]] = [("rules", data.get("rules", {}))]
    followup = data.get("followup")
    named = followup.get("rule_sets") if isinstance(followup, dict) else None
    if isinstance(named, dict):
        out += [(f"followup.rule_sets.{name}", table) for name, table in named.items()]
    elif named is not None:
        out.append(("followup.rule_sets", named))
    return out


def _check(args: argparse.Namespace) -> int:
    from healthkiosk.config import read_mapping
    from healthkiosk.rules import Problem, check_rules, check_words, rule_set_id
    from kiosk.app.i18n import category_words

    data = read_mapping(args.file)  # unreadable or not TOML: one line, exit 2
    problems: list[Problem] = []
    found: list[tuple[str, RulesConfig]] = []
    for prefix, table in _rule_sets(data):
        if not isinstance(table, dict):
            problems.append(Problem(prefix, "must be a table"))
            continue
        rules, more = check_rules(table, prefix=prefix)
        problems += more
        if rules is not None:
            found.append((prefix, rules))
    problems += [Problem(f"kiosk {p.key}", p.message) for p in check_words(category_words())]
    if problems:
        _print_problems(problems)
        return 2
    for prefix, rules in found:
        rid = rule_set_id(rules)
        print(f"{prefix}: ok: {rid.name} {rid.digest}")
    return 0


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        print(problem)


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
