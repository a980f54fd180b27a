"""Fixtures of the kiosk's flow tests (defined in tests/support/flowkit.py)."""

from tests.support.flowkit import (  # noqa: F401  (fixtures, found by pytest by name)
    h,
    harness,
    kiosk_config,
    rules,
)
