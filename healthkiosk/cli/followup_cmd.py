"""``healthkiosk followup``: the doctor's side (ingest, web app, accounts).

Temporary minimal group in the ``web`` branch: the sync helper's version adds
``ingest`` and imports ``followup_web`` the same way (the lead reconciles).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("followup", help="the doctor's follow-up service")
    fsub = p.add_subparsers(dest="followup_command", metavar="ACTION", required=True)
    if importlib.util.find_spec("healthkiosk.cli.followup_web") is not None:
        importlib.import_module("healthkiosk.cli.followup_web").register(fsub)
