"""Imports every table module so ``Base.metadata`` knows the whole schema."""

from followup.db import (
    alerts,
    audit,
    auth,
    escalation,
    fleet,
    models,
    records,
    reviews,
    rollouts,
    status,
)

__all__ = [
    "alerts",
    "audit",
    "auth",
    "escalation",
    "fleet",
    "models",
    "records",
    "reviews",
    "rollouts",
    "status",
]
