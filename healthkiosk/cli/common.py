"""Helpers shared by the command groups: configuration and logging from args."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

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
