"""The device side of an emulated serial port: a pty pair behind a stable path.

The emulator owns the pty master; the real driver opens the slave with
pyserial, exactly as it would open ``/dev/ttyUSB0``. The slave is reached
through a symlink in a private directory (as udev's ``/dev/serial/by-id/``
links are), so :meth:`PtyLink.unplug` and :meth:`PtyLink.replug` can emulate a
USB adapter pulled out and plugged back: the link disappears, then points at
a fresh pty.

All I/O is non-blocking on the event loop (``add_reader``/``add_writer``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import struct
import tempfile
import termios
import tty
from pathlib import Path
from types import TracebackType


class PtyUnplugged(ConnectionError):
    """The emulated adapter is unplugged: nothing can be read or written."""


class PtyLink:
    def __init__(self, name: str = "ttyEMU0") -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="hk-pty-"))
        self.port = str(self._dir / name)
        self._master: int | None = None
        self._slave: int | None = None
        self._incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> PtyLink:
        self.plug()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def plug(self) -> None:
        if self._master is not None:
            return
        self._loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        # Raw from the start: nothing is echoed or translated before the driver
        # opens the port (pyserial sets raw mode too when it opens it).
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        tmp = self.port + ".new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.port)
        self._incoming = asyncio.Queue()
        self._loop.add_reader(master, self._on_readable)

    replug = plug

    def _on_readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._incoming.put_nowait(data)

    def pending_for_driver(self) -> int:
        """Bytes written by the device and not yet read by the driver."""
        if self._slave is None:
            return 0
        raw = fcntl.ioctl(self._slave, termios.FIONREAD, b"\0\0\0\0")
        return int(struct.unpack("i", raw)[0])

    async def drain(self, *, timeout_s: float = 2.0) -> None:
        """Wait until the driver has read everything written so far (the
        queue seen empty five times in a row: the kernel moves bytes from the
        master to the slave's queue asynchronously)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        empty_checks = 0
        while empty_checks < 5 and loop.time() < deadline:
            empty_checks = 0 if self.pending_for_driver() else empty_checks + 1
            await asyncio.sleep(0.02)

    def unplug(self) -> None:
        """The adapter is pulled out: the port path vanishes, the driver's
        reads fail; anything queued is lost."""
        master, slave = self._master, self._slave
        self._master = self._slave = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.port)
        if master is not None:
            if self._loop is not None:
                self._loop.remove_reader(master)
            os.close(master)
        if slave is not None:
            os.close(slave)
        self._incoming.put_nowait(None)

    def close(self) -> None:
        self.unplug()
        with contextlib.suppress(OSError):
            self._dir.rmdir()

    async def read(self) -> bytes:
        """The next bytes the driver wrote; :class:`PtyUnplugged` when unplugged."""
        if self._master is None:
            raise PtyUnplugged(self.port)
        data = await self._incoming.get()
        if data is None:
            raise PtyUnplugged(self.port)
        return data

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            master = self._master
            if master is None:
                raise PtyUnplugged(self.port)
            try:
                written = os.write(master, view)
            except BlockingIOError:
                await self._writable(master)
                continue
            except OSError as err:
                raise PtyUnplugged(self.port) from err
            view = view[written:]

    async def _writable(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def on_writable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_writer(fd, on_writable)
        try:
            await asyncio.wait_for(ready, timeout=0.5)
        except TimeoutError:
            pass  # re-check: the driver may simply be slow to read
        finally:
            loop.remove_writer(fd)
