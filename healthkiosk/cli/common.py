"""Helpers shared by the command groups: configuration and logging from args, the
admin commands' audit entries."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from healthkiosk.config import Config


def load(args: argparse.Namespace, *, log: bool = True) -> Config:
    """Load the configuration named by ``--config`` (or the search order) and
    set up masked logging from it, command-line flags winning."""
    from healthkiosk.config import load_config
    from healthkiosk.logsetup import setup_logging

    cfg = load_config(getattr(args, "config", None))
    if log:
        setup_logging(
            level=getattr(args, "log_level", None) or cfg.logging.level,
            fmt=getattr(args, "log_format", None) or cfg.logging.format,
        )
    return cfg


def audit_admin(
    args: argparse.Namespace,
    *,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Write an admin command's audit entry (as ``cli:<OS user>``) to the follow-up
    database, for commands that act elsewhere (MQTT, files). Commands that change the
    database call :func:`followup.db.audit_log.audit_cli` in their own transaction."""
    from followup.db.audit_log import record_cli
    from followup.db.engine import make_engine

    engine = make_engine(load(args, log=False).followup_database_url)
    try:
        record_cli(engine, action=action, target=target, detail=detail)
    finally:
        engine.dispose()
