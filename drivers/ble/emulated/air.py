"""The emulated radio: which in-process peripherals advertise right now."""

from __future__ import annotations

from collections.abc import Callable

from drivers.ble.emulated.gatt import Peripheral

Listener = Callable[[Peripheral], None]


class Air:
    def __init__(self) -> None:
        self._peripherals: dict[str, Peripheral] = {}
        self._listeners: list[Listener] = []
        self.powered = True
        """False: the station's adapter is off; scans and connects are refused."""

    def add(self, peripheral: Peripheral) -> None:
        self._peripherals[peripheral.address.upper()] = peripheral

    def remove(self, peripheral: Peripheral) -> None:
        peripheral.advertising = False
        peripheral.drop_link()
        self._peripherals.pop(peripheral.address.upper(), None)

    def advertise(self, peripheral: Peripheral) -> None:
        """The peripheral starts advertising (and scanners hear it)."""
        self.add(peripheral)
        peripheral.advertising = True
        for listener in list(self._listeners):
            listener(peripheral)

    def find(self, address: str) -> Peripheral | None:
        return self._peripherals.get(address.upper())

    def advertising(self) -> list[Peripheral]:
        return [p for p in self._peripherals.values() if p.advertising]

    def listen(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove


AIR = Air()
"""The one emulated radio of this process."""
