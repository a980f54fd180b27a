"""Options every BLE driver understands (``devices.<role>.options`` in the
configuration, or the CLI), parsed once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from healthkiosk.errors import ConfigError


@dataclass(frozen=True, slots=True)
class BleOptions:
    scan_timeout_s: float | None = None
    """How long to look for the device; None: the driver decides (a blood
    pressure monitor is looked for during the whole measurement, because most
    advertise only once the elder has measured; a glucose meter for 30 s)."""
    connect_timeout_s: float = 20.0
    set_clock: bool = True
    clock_trusted: bool = True
    """Whether the station's own clock may be written into a device (it is
    synchronised). Until the core's clock-trust module is merged this option
    stands for it; True keeps the drivers' behaviour from before it existed.
    The drift is measured either way; a device clock is written only when
    ``set_clock`` and ``clock_trusted`` both hold."""
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
            if "clock_trusted" in opts:
                kwargs["clock_trusted"] = bool(opts.pop("clock_trusted"))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"invalid BLE option: {err}", key="devices.options") from None
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

    @property
    def may_set_clock(self) -> bool:
        return self.set_clock and self.clock_trusted
