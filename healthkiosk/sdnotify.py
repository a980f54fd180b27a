"""The systemd notify protocol (``sd_notify``) without libsystemd.

A service with ``Type=notify`` sends ``READY=1`` when it serves; one with
``WatchdogSec=`` must send ``WATCHDOG=1`` more often than that (we send every
half interval). Messages are datagrams to the unix socket named by
``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace). Outside
systemd the variable is unset and every call here is a no-op returning False.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

ENV_SOCKET = "NOTIFY_SOCKET"


def notify(message: str) -> bool:
    """Send one notification; True if a socket was there to take it."""
    n = Notifier()
    if not n.enabled:
        return False
    try:
        n.send(message)
    finally:
        n.close()
    return True


def ready(status: str | None = None) -> bool:
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""))


def stopping() -> bool:
    return notify("STOPPING=1")


def watchdog_ping() -> bool:
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """Seconds between pings systemd expects (``WatchdogSec``/2), or None if off."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or not usec.isdigit():
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1_000_000 / 2


async def watchdog_loop(interval: float | None = None) -> None:
    """Ping the watchdog from the event loop until cancelled.

    Running on the loop is the point: if the loop is blocked (or the process
    stopped), the pings stop and systemd restarts the service.
    """
    every = interval if interval is not None else watchdog_interval()
    if every is None:
        return
    while True:
        watchdog_ping()
        await asyncio.sleep(every)


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        addr = address if address is not None else os.environ.get(ENV_SOCKET)
        if addr and addr.startswith("@"):
            addr = "\0" + addr[1:]  # abstract namespace
        self._address = addr or None
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @staticmethod
    def watchdog_interval_s() -> float | None:
        """Half the watchdog period systemd asked for, or None."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return None
        try:
            return int(usec) / 2_000_000
        except ValueError:
            return None

    def send(self, *lines: str) -> None:
        if self._address is None:
            return
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.setblocking(False)
        with contextlib.suppress(OSError):
            self._sock.sendto("\n".join(lines).encode(), self._address)

    def ready(self) -> None:
        self.send("READY=1")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
