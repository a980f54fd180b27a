"""The one opener of every serial driver (and of the ID card reader and the
QR scanner, which are serial devices too).

A driver module names its registry opener as ``open_device =
port_opener(make)``: ``make(port, options)`` builds the device for that port
(options parsed, nothing opened); the opener checks a port was given, opens
the device, yields it and closes it on exit. The port is a path:
``/dev/ttyUSB0``, a udev ``/dev/serial/by-id`` link, or the pty of an
emulated twin (the ``emulation`` package, which a station does not install).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from healthkiosk.errors import ConfigError


class PortDevice(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...


D = TypeVar("D", bound=PortDevice)
Make = Callable[[str, Mapping[str, Any] | None], Awaitable[D]]


def port_opener(make: Make[D]) -> Callable[..., AbstractAsyncContextManager[D]]:
    """The registry's ``open_device(port=..., address=..., options=...)`` for a
    device ``make`` builds (``address`` is ignored: a serial device has none)."""

    @contextlib.asynccontextmanager
    async def open_device(
        *,
        port: str | None = None,
        address: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[D]:
        if not port:
            raise ConfigError("a serial port is required", key="port")
        device = await make(port, options)
        await device.open()
        try:
            yield device
        finally:
            await device.close()

    return open_device
