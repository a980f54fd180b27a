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
    UNSTABLE = "unstable"
    """No stable reading (an oximeter still settling, or values that keep moving)."""
    POOR_SIGNAL = "poor_signal"
    """An oximeter's sensor reports a weak, erratic or disturbed signal, or is off the finger."""


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


class ConnectionLostError(BrokerUnavailableError):
    """The broker connection dropped while something waited on it."""

    reason = "connection_lost"


class ConnectRefusedError(BrokerUnavailableError):
    """The broker answered CONNECT with a failure reason code (v5)."""

    reason = "connect_refused"

    def __init__(self, message: str, *, reason_code: int, reason_name: str = "") -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.reason_name = reason_name


class PublishRefusedError(SyncError):
    """The broker acknowledged a publish with a failure reason code (v5), e.g.
    0x87 not authorized or 0x97 quota exceeded: the message was NOT accepted."""

    reason = "publish_refused"

    def __init__(
        self, message: str, *, topic: str, reason_code: int, reason_name: str = ""
    ) -> None:
        super().__init__(message)
        self.topic = topic
        self.reason_code = reason_code
        self.reason_name = reason_name


class SubscribeRefusedError(SyncError):
    """The broker refused a subscription (SUBACK failure reason code)."""

    reason = "subscribe_refused"

    def __init__(
        self, message: str, *, topic: str, reason_code: int, reason_name: str = ""
    ) -> None:
        super().__init__(message)
        self.topic = topic
        self.reason_code = reason_code
        self.reason_name = reason_name


# --- software updates ------------------------------------------------------------


class UpdateError(HealthKioskError):
    """A software update could not be carried out (the station keeps its version)."""

    reason = "update_error"


class UpdateRefusedError(UpdateError):
    """A release was refused before it touched the installation.

    ``reason`` is one of :class:`updater.manifest.Refusal`'s values
    (``unsigned``, ``bad_signature``, ``unknown_key``, ``expired``, ``downgrade``,
    ``hash_mismatch``, ``too_long``, ``deadline``, ...); ``release`` is the
    release number the manifest claimed, when it could be read.
    """

    reason = "update_refused"

    def __init__(self, message: str, *, reason: str, release: int | None = None) -> None:
        super().__init__(message, reason=reason)
        self.release = release


class RolloutError(HealthKioskError):
    """A rollout command cannot be carried out (no such rollout, one already
    running, no stations, a manifest that does not match); nothing was changed."""

    reason = "rollout_error"


class MqttProtocolError(HealthKioskError):
    """A malformed or unsupported MQTT packet reached the embedded demo broker;
    ``code`` is the MQTT v5 reason code it answers with (0x81 malformed, ...)."""

    reason = "mqtt_protocol_error"

    def __init__(self, message: str, *, code: int = 0x81) -> None:
        super().__init__(message)
        self.code = code
