"""The project's one error tree.

Every error carries a machine-readable ``reason`` so callers (the kiosk's
error screens, the CLI, the sync status) branch on it without parsing
messages. Timeouts also inherit :class:`TimeoutError`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class HealthKioskError(Exception):
    """Base of every error this project raises on purpose."""

    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class ConfigError(HealthKioskError):
    """The configuration is invalid; ``key`` is the dotted path at fault."""

    reason = "config_invalid"

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


# --- devices -----------------------------------------------------------------


class DeviceError(HealthKioskError):
    """Something went wrong talking to a device; ``device`` names it."""

    reason = "device_error"

    def __init__(self, message: str, *, device: str = "", reason: str | None = None) -> None:
        super().__init__(f"{device}: {message}" if device else message, reason=reason)
        self.device = device


class DeviceNotFoundError(DeviceError):
    reason = "device_not_found"


class DeviceConnectionError(DeviceError):
    """The link could not be made, or was lost (``reason`` says which)."""

    reason = "link_lost"


class DeviceTimeoutError(DeviceError, TimeoutError):
    reason = "device_timeout"


class DownloadInterrupted(DeviceConnectionError):
    """The link was lost during a memory download. ``records`` holds the
    complete records that arrived (oldest first); download again from the last
    of them to get the rest — nothing is read twice."""

    reason = "download_interrupted"

    def __init__(self, message: str, *, records: list[Any], device: str = "") -> None:
        super().__init__(message, device=device)
        self.records = records


class ProtocolError(DeviceError):
    """Bytes that do not follow the protocol; ``raw`` keeps them."""

    reason = "protocol_error"

    def __init__(
        self, message: str, *, raw: bytes = b"", device: str = "", reason: str | None = None
    ) -> None:
        super().__init__(message, device=device, reason=reason)
        self.raw = bytes(raw)


class InvalidChecksum(ProtocolError):
    """A frame's checksum does not match: both values are kept."""

    reason = "invalid_checksum"

    def __init__(self, *, wire: int, calculated: int, raw: bytes = b"", device: str = "") -> None:
        super().__init__(
            f"checksum mismatch: frame says {wire:#x}, calculated {calculated:#x}",
            raw=raw,
            device=device,
        )
        self.wire = wire
        self.calculated = calculated


class MeasurementProblem(StrEnum):
    """Why a device finished a measurement without a usable reading."""

    BODY_MOVEMENT = "body_movement"
    CUFF_FIT = "cuff_fit"
    IMPROPER_POSITION = "improper_position"
    DEVICE_ERROR = "device_error"
    STRIP_ERROR = "strip_error"
    OUT_OF_RANGE = "out_of_range"
    IMPLAUSIBLE = "implausible"
    NO_VALUE = "no_value"


class MeasurementError(DeviceError):
    """The device reported a measurement that must not become a reading."""

    reason = "measurement_failed"

    def __init__(
        self,
        message: str,
        *,
        problem: MeasurementProblem,
        device: str = "",
        code: str | None = None,
    ) -> None:
        super().__init__(message, device=device, reason=problem.value)
        self.problem = problem
        self.code = code


# --- residents -----------------------------------------------------------------


class IdNumberError(HealthKioskError, ValueError):
    """A resident ID number is malformed; never carries the number itself."""

    reason = "id_invalid"


# --- store, schema and sync ----------------------------------------------------


class StoreError(HealthKioskError):
    reason = "store_error"


class StoreFullError(StoreError):
    """Not enough free disk to take a reading safely: nothing was written."""

    reason = "store_full"


class SchemaError(HealthKioskError, ValueError):
    """A message does not follow the wire schema."""

    reason = "schema_invalid"


class SyncError(HealthKioskError):
    reason = "sync_error"


class BrokerUnavailableError(SyncError):
    reason = "broker_unavailable"


class SyncTimeoutError(SyncError, TimeoutError):
    reason = "sync_timeout"


class ImplausibleValueError(HealthKioskError, ValueError):
    """A value outside the plausibility bounds of the clinical rules."""

    reason = "implausible"
