"""``healthkiosk devices ...``: the technician's device commands."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("devices", help="technician: scan, read, emulate and check devices")
    dsub = p.add_subparsers(dest="devices_command", metavar="ACTION", required=True)

    q = dsub.add_parser("list", help="the registered drivers")
    q.set_defaults(handler=_list)

    q = dsub.add_parser("idcheck", help="check a resident ID number (exit 0 valid, 2 not)")
    q.add_argument("number")
    q.set_defaults(handler=_idcheck)

    # The driver families add their own actions (scan, read, emulate, decode, pair,
    # print-test).
    import importlib.util

    for module_name in (
        "healthkiosk.cli.devices_ble",
        "healthkiosk.cli.devices_pair",
        "healthkiosk.cli.devices_io",
        "healthkiosk.cli.devices_print",
    ):
        if importlib.util.find_spec(module_name) is not None:
            import importlib

            importlib.import_module(module_name).register(dsub)


def _list(args: argparse.Namespace) -> int:
    from drivers.registry import all_drivers

    for spec in sorted(all_drivers().values(), key=lambda s: (s.role, s.name)):
        print(f"{spec.name:24} {spec.role:15} {spec.transport:7} {spec.summary}")
    return 0


def _idcheck(args: argparse.Namespace) -> int:
    import sys

    from healthkiosk.errors import IdNumberError
    from healthkiosk.idnumber import parse

    try:
        number = parse(args.number)
    except IdNumberError as err:
        print(f"invalid: {err} ({err.reason})", file=sys.stderr)
        return 2
    print(f"valid: {number.masked}, born {number.birth_date.isoformat()}, {number.sex.value}")
    return 0
