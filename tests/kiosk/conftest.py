"""Fixtures of the flow tests, defined in flowkit.py."""

from flowkit import (  # noqa: F401  (fixtures, found by pytest by name)
    h,
    harness,
    kiosk_config,
    rules,
)
