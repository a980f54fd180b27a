"""The serial transport: one owner per port, pyserial off the event loop.

Every blocking pyserial call runs through :func:`asyncio.to_thread`, in
slices of at most :data:`SLICE_S` so a cancelled wait returns quickly. A
pyserial read that returns nothing is a timeout, never data: the caller gets
:class:`~healthkiosk.errors.DeviceTimeoutError`. A port that disappears (a USB
adapter pulled out, a pty whose other end closed) becomes
:class:`~healthkiosk.errors.DeviceConnectionError`; :meth:`SerialLink.reopen`
waits for it to come back with exponential back-off.

One owner per port: a process-wide claim on the port's real path, plus
pyserial's ``exclusive`` lock against other processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from types import TracebackType
from typing import Any

from healthkiosk.errors import DeviceConnectionError, DeviceNotFoundError, DeviceTimeoutError

log = logging.getLogger(__name__)

SLICE_S = 0.2
"""Longest single blocking read in a worker thread."""

_claimed: set[str] = set()
_claimed_lock = threading.Lock()


def _claim_key(path: str) -> str:
    return os.path.realpath(path)


class SerialLink:
    """An open serial port, owned by exactly one driver at a time."""

    def __init__(
        self,
        path: str,
        *,
        baudrate: int = 9600,
        device: str = "",
        reconnect_max_s: float = 10.0,
        write_timeout_s: float | None = None,
    ) -> None:
        self.path = path
        self.baudrate = baudrate
        self.device = device or path
        self.reconnect_max_s = reconnect_max_s
        self.write_timeout_s = write_timeout_s
        """Longest one :meth:`write` may block (a device holding the line busy,
        e.g. a printer out of paper with flow control); None: no limit."""
        self._serial: Any = None
        self._claim: str | None = None
        self._io_lock = threading.Lock()
        self._closed = False

    # --- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> SerialLink:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    async def open(self) -> None:
        if self._serial is not None:
            return
        self._closed = False
        key = _claim_key(self.path)
        with _claimed_lock:
            if key in _claimed:
                raise DeviceConnectionError(
                    f"port {self.path} is already owned by another driver",
                    device=self.device,
                    reason="port_busy",
                )
            _claimed.add(key)
        self._claim = key
        try:
            self._serial = await asyncio.to_thread(self._open_blocking)
        except BaseException:
            self._release()
            raise
        log.info("%s: opened %s at %d baud", self.device, self.path, self.baudrate)

    def _open_blocking(self) -> Any:
        import serial

        if not os.path.exists(self.path):
            raise DeviceNotFoundError(f"no serial port at {self.path}", device=self.device)
        try:
            return serial.Serial(
                self.path,
                baudrate=self.baudrate,
                timeout=SLICE_S,
                write_timeout=self.write_timeout_s,
                exclusive=True,
            )
        except (serial.SerialException, OSError) as err:
            raise DeviceConnectionError(
                f"cannot open {self.path}: {err}", device=self.device, reason="open_failed"
            ) from err

    def _release(self) -> None:
        if self._claim is not None:
            with _claimed_lock:
                _claimed.discard(self._claim)
            self._claim = None

    async def close(self) -> None:
        """Close the port (idempotent); waits for an in-flight read slice."""
        ser, self._serial = self._serial, None
        self._closed = True
        try:
            if ser is not None:
                await asyncio.to_thread(self._close_blocking, ser)
        finally:
            self._release()

    def _close_blocking(self, ser: Any) -> None:
        with self._io_lock:
            try:
                ser.close()
            except Exception:  # a vanished port may fail to close; it is gone anyway
                log.debug("%s: close failed", self.device, exc_info=True)

    async def reopen(self) -> None:
        """Close, then wait for the port to come back (adapter re-plugged),
        retrying with exponential back-off up to ``reconnect_max_s``."""
        await self.close()
        deadline = time.monotonic() + self.reconnect_max_s
        delay = 0.05
        while True:
            try:
                await self.open()
            except (DeviceNotFoundError, DeviceConnectionError) as err:
                if isinstance(err, DeviceConnectionError) and err.reason == "port_busy":
                    raise
                if time.monotonic() + delay > deadline:
                    raise DeviceConnectionError(
                        f"port {self.path} did not come back within {self.reconnect_max_s:g} s",
                        device=self.device,
                        reason="reconnect_failed",
                    ) from err
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
            else:
                log.info("%s: reconnected to %s", self.device, self.path)
                return

    # --- I/O -------------------------------------------------------------------

    def _require(self) -> Any:
        if self._serial is None:
            raise DeviceConnectionError(
                f"port {self.path} is not open", device=self.device, reason="not_open"
            )
        return self._serial

    def _lost(self, err: BaseException) -> DeviceConnectionError:
        return DeviceConnectionError(
            f"lost the link on {self.path}: {err}", device=self.device, reason="link_lost"
        )

    async def write(self, data: bytes) -> None:
        ser = self._require()
        import serial

        try:
            await asyncio.to_thread(self._write_blocking, ser, data)
        except DeviceConnectionError:
            raise
        except serial.SerialTimeoutException as err:
            raise DeviceTimeoutError(
                f"{self.path} took no data for {self.write_timeout_s:g} s", device=self.device
            ) from err
        except Exception as err:
            raise self._lost(err) from err

    def _write_blocking(self, ser: Any, data: bytes) -> None:
        with self._io_lock:
            if self._closed:
                raise OSError("port closed")
            ser.write(data)
            ser.flush()

    async def discard_input(self) -> None:
        """Drop anything already received (stale bytes before a command)."""
        ser = self._require()
        try:
            await asyncio.to_thread(self._discard_blocking, ser)
        except Exception as err:
            raise self._lost(err) from err

    def _discard_blocking(self, ser: Any) -> None:
        with self._io_lock:
            ser.reset_input_buffer()

    async def read_some(self, *, timeout_s: float) -> bytes:
        """At least one byte, or :class:`DeviceTimeoutError` after ``timeout_s``."""
        ser = self._require()
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeoutError(
                    f"no data from {self.path} within {timeout_s:g} s", device=self.device
                )
            try:
                chunk = await asyncio.to_thread(self._read_blocking, ser, min(SLICE_S, remaining))
            except Exception as err:
                raise self._lost(err) from err
            if chunk:
                return chunk

    def _read_blocking(self, ser: Any, timeout: float) -> bytes:
        with self._io_lock:
            if self._closed:
                raise OSError("port closed")
            ser.timeout = timeout
            first: bytes = ser.read(1)
            if not first:
                return b""  # a short read is a timeout, never data
            waiting = ser.in_waiting
            return first + (ser.read(waiting) if waiting else b"")
