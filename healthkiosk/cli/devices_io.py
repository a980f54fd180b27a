"""Serial and ID-card actions of ``healthkiosk devices``.

``devices lineparse FORMAT LINE`` checks a captured line against a line
format (a shipped name or a TOML file) so a technician can add a station's
monitor without code: one JSON object on stdout and exit 0, or one line on
stderr and exit 2. ``LINE`` is text (``\\r`` etc. not needed: no terminator)
or ``hex:`` followed by hex digits.
"""

from __future__ import annotations

import argparse


def register(dsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    q = dsub.add_parser("lineparse", help="check a captured line against a serial line format")
    q.add_argument("format", help="a shipped format name or a TOML file")
    q.add_argument("line", help="the line without its terminator, or hex:<digits>")
    q.set_defaults(handler=_lineparse)


def _lineparse(args: argparse.Namespace) -> int:
    import dataclasses
    import json
    import sys

    from drivers.serial import lineformat as lf

    fmt = lf.load_format(args.format)
    raw = (
        bytes.fromhex(args.line[4:])
        if args.line.startswith("hex:")
        else args.line.encode(fmt.encoding)
    )
    try:
        event = lf.LineCodec(fmt).decode(raw)
    except lf.LineFormatError as err:
        print(f"invalid: {err} ({err.reason})", file=sys.stderr)
        return 2
    out = {"kind": type(event).__name__, **dataclasses.asdict(event)}
    print(json.dumps(out, default=str, ensure_ascii=False))
    return 0
