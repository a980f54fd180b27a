"""The systemd notify protocol (``sd_notify``) without libsystemd.

A service with ``Type=notify`` sends ``READY=1`` when it serves; one with
``WatchdogSec=`` must send ``WATCHDOG=1`` more often than that (we send every
half interval). Messages are datagrams to the unix socket named by
``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace). Outside
systemd the variable is unset and every call here is a no-op returning False.
"""

from __future__ import annotations

import asyncio
import os
import socket

ENV_SOCKET = "NOTIFY_SOCKET"


def notify(message: str) -> bool:
    """Send one notification; True if a socket was there to take it."""
    address = os.environ.get(ENV_SOCKET)
    if not address:
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(target)
        sock.sendall(message.encode("utf-8"))
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
