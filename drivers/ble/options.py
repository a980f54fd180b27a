"""Options every BLE driver understands (``devices.<role>.options`` in the
configuration, or the CLI), parsed once."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from healthkiosk.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BleOptions:
    scan_timeout_s: float | None = None
    """How long to look for the device; None: the driver decides (a blood
    pressure monitor is looked for during the whole measurement, because most
    advertise only once the elder has measured; a glucose meter for 30 s)."""
    connect_timeout_s: float = 20.0
    set_clock: bool = True
    clock_trusted: Callable[[], bool] | bool | None = None
    """Given by the kiosk (never by a file): whether the station's clock is
    synchronised now; while it is not, no device clock is set. The drift is
    measured either way. (A plain bool is for tests and tools that know.)"""
    tz: tzinfo = field(
        default_factory=lambda: datetime.now().astimezone().tzinfo or ZoneInfo("UTC")
    )
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, options: Mapping[str, Any] | None) -> BleOptions:
        opts = dict(options or {})
        kwargs: dict[str, Any] = {}
        try:
            if "scan_timeout_s" in opts:
                kwargs["scan_timeout_s"] = float(opts.pop("scan_timeout_s"))
            if "connect_timeout_s" in opts:
                kwargs["connect_timeout_s"] = float(opts.pop("connect_timeout_s"))
            if "set_clock" in opts:
                kwargs["set_clock"] = bool(opts.pop("set_clock"))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"invalid BLE option: {err}", key="devices.options") from None
        trusted = opts.pop("clock_trusted", None)
        if trusted is not None and not callable(trusted):
            raise ConfigError(
                "set by the kiosk, not by a file", key="devices.options.clock_trusted"
            )
        kwargs["clock_trusted"] = trusted
        if "timezone" in opts:
            name = str(opts.pop("timezone"))
            try:
                kwargs["tz"] = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(
                    f"unknown time zone {name!r}", key="devices.options.timezone"
                ) from None
        # The emulated twin's settings (read by the emulation package when it
        # stands in for the device): not the driver's.
        opts.pop("emulator", None)
        kwargs["extra"] = opts
        return cls(**kwargs)

    def station_clock_trusted(self) -> bool:
        """Whether the station's clock is synchronised now (True when the kiosk
        did not say: tests and tools)."""
        trusted = self.clock_trusted
        if trusted is None:
            return True
        return bool(trusted() if callable(trusted) else trusted)

    def may_set_clock(self) -> bool:
        """Set the device's clock now? Only when configured to and the station's
        own clock is synchronised (a wrong time must not spread to the devices)."""
        if not self.set_clock:
            return False
        trusted = self.clock_trusted
        if trusted is None:
            return True
        if not (trusted() if callable(trusted) else trusted):
            log.info("device clock not set: the station's clock is not synchronised")
            return False
        return True
