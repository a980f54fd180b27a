"""The drivers' clock gate: a device clock is set only when configured to and
while the kiosk says the station's clock is synchronised (``clock_trusted``,
an option only the kiosk gives)."""

from __future__ import annotations

import pytest

from drivers.ble.options import BleOptions
from drivers.serial.common import ClockOptions
from healthkiosk.errors import ConfigError


@pytest.mark.parametrize("parse", [BleOptions.parse, ClockOptions.parse])
def test_set_clock_needs_the_configuration_and_a_synchronised_station(parse: object) -> None:
    synced = [False]
    opts = parse({"clock_trusted": lambda: synced[0]})  # type: ignore[operator]
    assert not opts.may_set_clock()
    synced[0] = True
    assert opts.may_set_clock()  # asked each time, not once
    assert not parse({"set_clock": False, "clock_trusted": lambda: True}).may_set_clock()  # type: ignore[operator]
    assert parse({}).may_set_clock()  # no gate (the CLI's tools): as configured


@pytest.mark.parametrize("parse", [BleOptions.parse, ClockOptions.parse])
def test_clock_trusted_cannot_come_from_a_file(parse: object) -> None:
    with pytest.raises(ConfigError) as err:
        parse({"clock_trusted": True})  # type: ignore[operator]
    assert err.value.key is not None and err.value.key.endswith("clock_trusted")
