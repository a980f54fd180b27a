"""The registry of twins: every real driver has one, and a simulated kiosk
has a twin for every role."""

from __future__ import annotations

import pytest

from drivers.registry import all_drivers
from emulation import twins
from emulation.idcard.sam_reader import SAMPLE_CARD
from healthkiosk.config import from_mapping
from healthkiosk.errors import ConfigError


def test_every_registered_driver_has_a_twin_and_every_twin_a_driver() -> None:
    assert set(twins.TWINS) == set(all_drivers())


async def test_an_unknown_driver_is_named_as_such() -> None:
    with pytest.raises(ConfigError, match="unknown driver 'no-such'"):
        async with twins.connect("no-such"):
            pass


def test_a_simulated_kiosk_keeps_the_configured_drivers_and_fills_the_other_roles() -> None:
    cfg = from_mapping({"devices": {"glucose": {"driver": "onetouch-ultra2", "port": "/dev/x"}}})
    sim = twins.Simulation(cfg)
    d = sim.config.devices
    assert d.glucose is not None and (d.glucose.driver, d.glucose.port) == (
        "onetouch-ultra2",
        "/dev/x",
    )
    assert d.blood_pressure is not None and d.blood_pressure.driver == "ble-bp-standard"
    assert d.id_card is not None and d.id_card.driver == "sam-idcard"
    assert d.qr_code is None  # a scanner only where configured
    assert cfg.devices.blood_pressure is None  # the given configuration is left alone


async def test_a_card_presented_before_the_reader_runs_waits_for_it() -> None:
    sim = twins.Simulation(from_mapping({}))
    sim.present_card(SAMPLE_CARD)
    async with sim.open_devices() as devices:
        assert devices.id_card is not None
        card = await devices.id_card.read_card(timeout_s=10)
    assert card.id_number == SAMPLE_CARD.id_number
    assert sim.running == {}  # every twin stopped with its device
