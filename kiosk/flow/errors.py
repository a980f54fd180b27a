"""Device and store errors → the plain-words error state's key and ways forward.

The kiosk never shows an exception: each error maps to a message key (the
app translates it) and the actions the elder can take next.
"""

from __future__ import annotations

from healthkiosk.errors import (
    DeviceConnectionError,
    DeviceError,
    DeviceNotFoundError,
    DeviceTimeoutError,
    HealthKioskError,
    ImplausibleValueError,
    MeasurementError,
    MeasurementProblem,
    StoreError,
    StoreFullError,
)

RETRY_ACTIONS = ("retry", "choose", "finish")
DEVICE_MISSING_ACTIONS = ("retry", "finish")
FINISH_ONLY = ("finish",)

ELDER_CAN_FIX = frozenset({"body_movement", "cuff_fit", "improper_position", "strip_error"})
"""Errors the elder mends alone (sit still, the cuff, a new strip): "Try again" first."""
NEEDS_STAFF = frozenset(
    {
        "device_not_found",
        "not_paired",
        "bluetooth_off",
        "link_lost",
        "device_timeout",
        "out_of_range",
        "implausible",
        "device_error",
        "store_full",
        "store_error",
        "updating",
    }
)
"""Errors that need a person: the screen offers 呼叫工作人员 (``call_staff``) as
its main way forward (``out_of_range`` and ``implausible``: a meter's value a
real hypoglycaemia or shock can produce)."""

ERROR_KEYS = (
    "device_not_found",
    "not_paired",
    "bluetooth_off",
    "link_lost",
    "device_timeout",
    "body_movement",
    "cuff_fit",
    "improper_position",
    "strip_error",
    "out_of_range",
    "implausible",
    "device_error",
    "store_full",
    "store_error",
    "updating",
)

_PROBLEMS = {
    MeasurementProblem.BODY_MOVEMENT: "body_movement",
    MeasurementProblem.CUFF_FIT: "cuff_fit",
    MeasurementProblem.IMPROPER_POSITION: "improper_position",
    MeasurementProblem.STRIP_ERROR: "strip_error",
    MeasurementProblem.OUT_OF_RANGE: "out_of_range",
    MeasurementProblem.IMPLAUSIBLE: "implausible",
    MeasurementProblem.DEVICE_ERROR: "device_error",
    MeasurementProblem.NO_VALUE: "device_error",
}

# Reasons a driver may put on a DeviceError for the radio itself.
_RADIO_REASONS = {
    "bluetooth_off": "bluetooth_off",
    "adapter_off": "bluetooth_off",
    "adapter_missing": "bluetooth_off",
    "bluetooth_unavailable": "bluetooth_off",
    "not_paired": "not_paired",
    "pairing_failed": "not_paired",
    "bond_lost": "not_paired",
    "key_refused": "not_paired",
}


def error_key(err: HealthKioskError) -> str:
    """The message key for an error the kiosk must show."""
    if err.reason in _RADIO_REASONS:
        return _RADIO_REASONS[err.reason]
    if isinstance(err, MeasurementError):
        return _PROBLEMS.get(err.problem, "device_error")
    if isinstance(err, ImplausibleValueError):
        return "implausible"
    if isinstance(err, StoreFullError):
        return "store_full"
    if isinstance(err, StoreError):
        return "store_error"
    if isinstance(err, DeviceNotFoundError):
        return "device_not_found"
    if isinstance(err, DeviceTimeoutError):
        return "device_timeout"
    if isinstance(err, DeviceConnectionError):
        return "link_lost"
    if isinstance(err, DeviceError):
        return "device_error"
    return "device_error"


_PAIR_ERRORS = {
    "not_paired": "not_paired",
    "bond_lost": "bond_lost",
    "pairing_failed": "pairing_failed",
    "key_refused": "key_refused",
    "device_not_found": "device_not_found",
    "device_timeout": "device_timeout",
    "bluetooth_off": "bluetooth_off",
    "adapter_off": "bluetooth_off",
    "adapter_missing": "bluetooth_off",
    "bluetooth_unavailable": "bluetooth_off",
}


def pair_error_key(reason: str) -> str:
    """The plain-words key (``pair.error.<key>``) for why a pairing failed,
    for the technician's screen and ``healthkiosk devices pair``."""
    return _PAIR_ERRORS.get(reason, "other")


def error_actions(key: str) -> tuple[str, ...]:
    """The ways forward, in order; ``call_staff`` first when the error needs staff."""
    staff = ("call_staff",) if key in NEEDS_STAFF else ()
    if key in ("store_full", "store_error", "updating"):
        return (*staff, *FINISH_ONLY)
    if key in ("device_not_found", "not_paired", "bluetooth_off"):
        return (*staff, *DEVICE_MISSING_ACTIONS)
    return (*staff, *RETRY_ACTIONS)
