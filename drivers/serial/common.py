"""Pieces the serial drivers share: options, clocks, the reconnect rule."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Self, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drivers.serial.transport import SerialLink
from healthkiosk.errors import (
    ConfigError,
    DeviceConnectionError,
    ProtocolError,
)

T = TypeVar("T", bound="SerialOptions")
log = logging.getLogger(__name__)


class SerialOptions(BaseModel):
    """``options`` of a serial device's configuration; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    baudrate: int = Field(default=9600, gt=0)
    timezone: str = "Asia/Shanghai"
    """The zone the device's own clock is set in (devices keep local time)."""
    response_timeout_s: float = Field(default=2.0, gt=0)
    """Longest silence while a response is due."""
    response_limit_s: float = Field(default=60.0, gt=0)
    """Longest a single response may take, however busy the line."""
    reconnect_max_s: float = Field(default=10.0, ge=0)
    emulator: dict[str, Any] = Field(default_factory=dict)
    """Settings of the device's emulated twin (read by the ``emulation`` package
    when it stands in for the device; the driver ignores them)."""

    @classmethod
    def parse(cls, options: Mapping[str, Any] | None) -> Self:
        try:
            return cls.model_validate(dict(options or {}))
        except ValidationError as err:
            first = err.errors()[0]
            msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
            key = "options." + ".".join(str(p) for p in first["loc"])
            raise ConfigError(msg, key=key) from None

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"unknown time zone {self.timezone!r}", key="options.timezone"
            ) from None


class ClockOptions(SerialOptions):
    set_clock: bool = True
    """Set the device clock at connect when it is off by more than the tolerance."""
    clock_tolerance_s: float = Field(default=120.0, ge=0)
    clock_trusted: Callable[[], bool] | None = Field(default=None, exclude=True)
    """Given by the kiosk (never by a file): whether the station's clock is
    synchronised now; while it is not, no device clock is set."""

    def station_clock_trusted(self) -> bool:
        """Whether the station's clock is synchronised now (True when the kiosk
        did not say: tests and tools)."""
        return self.clock_trusted is None or bool(self.clock_trusted())

    def may_set_clock(self) -> bool:
        """Set the device's clock now? Only when configured to and the station's
        own clock is synchronised (a wrong time must not spread to the devices)."""
        if not self.set_clock:
            return False
        if self.clock_trusted is not None and not self.clock_trusted():
            log.info("device clock not set: the station's clock is not synchronised")
            return False
        return True


class PollingOptions(ClockOptions):
    poll_interval_s: float = Field(default=2.0, gt=0)
    """How often a meter that cannot push is asked for a new record."""


def aware(value: datetime, zone: ZoneInfo) -> datetime:
    """A device's naive local time as a timezone-aware datetime."""
    return value.replace(tzinfo=zone)


def local_now(zone: ZoneInfo) -> datetime:
    return datetime.now(zone).replace(tzinfo=None, microsecond=0)


def named(err: ProtocolError, device: str) -> ProtocolError:
    """A codec's error (raised without knowing the device), now naming it."""
    if not err.device:
        err.device = device
        err.args = (f"{device}: {err.args[0]}" if err.args else device, *err.args[1:])
    return err


async def ensure_open(link: SerialLink) -> None:
    """Open the port, or wait for a re-plugged adapter with back-off."""
    if link.is_open:
        return
    await link.reopen()


async def on_link_error(link: SerialLink, err: BaseException) -> None:
    """After a lost link, close the port so the next call re-opens it."""
    if isinstance(err, DeviceConnectionError):
        await link.close()
