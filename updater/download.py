"""Bounded HTTP downloads: resumable (Range), hash-checked, never endless.

Every read is bounded three ways: by the signed length (we never ask for nor
keep a byte past it, and a server that has more to send is refused as
``too_long``), by a per-read socket timeout, and by an absolute deadline for
the whole release (a server trickling one byte a second is refused as
``deadline``, however patient the socket timeout). A partial file is kept as
``<name>.part`` so a killed or interrupted download resumes with
``Range: bytes=<have>-``; the whole file is hashed before it is renamed into
place, so a resumed file is checked as strictly as a fresh one.

A station's network is often a flaky mobile link, so a *transient* failure (a
connection refused, reset or closed early, a stall longer than the read
timeout, HTTP 408/429/5xx) is retried with exponential backoff, resuming from
the ``.part``, as long as retries and the deadline last; a refusal that says
something about the release (a wrong hash, too many bytes, HTTP 404) is never
retried.

Blocking by design: the updater is its own process (the MQTT link calls it
through :func:`asyncio.to_thread` or as a subprocess).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from healthkiosk.atomicfile import fsync_dir
from healthkiosk.errors import UpdateRefusedError
from updater.manifest import FileEntry, Refusal

CHUNK = 64 * 1024
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")

_T = TypeVar("_T")

Progress = Callable[[int, int], None]
"""Called with (bytes so far, total) as a file comes in."""


@dataclass(frozen=True, slots=True)
class Limits:
    deadline: float
    """Absolute :func:`time.monotonic` time by which everything must be in."""
    read_timeout_s: float = 20.0
    retries: int = 5
    """Further attempts after a transient failure (0: fail on the first)."""
    backoff_s: float = 2.0
    """Wait before the first retry; doubled each time, at most :data:`MAX_BACKOFF_S`."""


MAX_BACKOFF_S = 60.0

Retrying = Callable[[int, float, UpdateRefusedError], None]
"""Called with (attempt about to start, seconds of wait before it, the failure)."""


class TransientDownloadError(UpdateRefusedError):
    """A failure of the network or the server, not of the release: worth a retry."""


def _refuse(message: str, reason: Refusal, *, transient: bool = False) -> UpdateRefusedError:
    cls = TransientDownloadError if transient else UpdateRefusedError
    return cls(message, reason=reason.value)


_TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


def _http_refusal(url: str, status: int) -> UpdateRefusedError:
    transient = status in _TRANSIENT_HTTP
    return _refuse(f"{url}: HTTP {status}", Refusal.UNAVAILABLE, transient=transient)


def _with_retries(attempt: Callable[[], _T], limits: Limits, on_retry: Retrying | None) -> _T:
    """Run ``attempt``; after a transient failure wait and run it again."""
    tries = 0
    while True:
        try:
            return attempt()
        except TransientDownloadError as err:
            tries += 1
            wait = min(limits.backoff_s * 2 ** (tries - 1), MAX_BACKOFF_S)
            if tries > limits.retries or time.monotonic() + wait >= limits.deadline:
                raise
            if on_retry is not None:
                on_retry(tries + 1, wait, err)
            time.sleep(wait)


def _remaining(limits: Limits, what: str) -> float:
    left = limits.deadline - time.monotonic()
    if left <= 0:
        raise _refuse(f"{what}: download deadline passed", Refusal.DEADLINE)
    return min(left, limits.read_timeout_s)


@dataclass(slots=True)
class _Stream:
    conn: http.client.HTTPConnection
    resp: http.client.HTTPResponse

    def header(self, name: str) -> str | None:
        return self.resp.getheader(name)

    def close(self) -> None:
        self.resp.close()
        self.conn.close()


def _open(url: str, limits: Limits, *, start: int = 0) -> _Stream:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse(f"unsupported URL {url}", Refusal.UNAVAILABLE)
    conn_cls = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_cls(parts.hostname, parts.port, timeout=_remaining(limits, url))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    headers = {"User-Agent": "healthkiosk-updater", "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        conn.request("GET", path, headers=headers)
        return _Stream(conn, conn.getresponse())
    except TimeoutError:
        conn.close()
        raise _refuse(
            f"{url}: server did not answer in time", Refusal.DEADLINE, transient=True
        ) from None
    except (OSError, http.client.HTTPException) as err:
        conn.close()
        raise _refuse(f"{url}: {err}", Refusal.UNAVAILABLE, transient=True) from None


def _read(stream: _Stream, n: int, limits: Limits, what: str, *, probe: bool = False) -> bytes:
    timeout = _remaining(limits, what)
    if stream.conn.sock is not None:
        stream.conn.sock.settimeout(min(timeout, 1.0) if probe else timeout)
    try:
        data = stream.resp.read1(n)
    except TimeoutError:
        if probe:
            return b""
        raise _refuse(
            f"{what}: no data for {limits.read_timeout_s:g} s", Refusal.DEADLINE, transient=True
        ) from None
    except (OSError, http.client.HTTPException) as err:
        raise _refuse(
            f"{what}: connection lost: {err}", Refusal.UNAVAILABLE, transient=True
        ) from None
    if time.monotonic() > limits.deadline:
        raise _refuse(f"{what}: download deadline passed", Refusal.DEADLINE)
    return data


def fetch_bytes(
    url: str, *, max_bytes: int, limits: Limits, on_retry: Retrying | None = None
) -> bytes:
    """A small document (the manifest), refused past ``max_bytes``."""
    return _with_retries(lambda: _fetch_bytes_once(url, max_bytes, limits), limits, on_retry)


def _fetch_bytes_once(url: str, max_bytes: int, limits: Limits) -> bytes:
    stream = _open(url, limits)
    try:
        if stream.resp.status != 200:
            raise _http_refusal(url, stream.resp.status)
        declared = stream.header("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise _refuse(f"{url}: {declared} bytes is more than {max_bytes}", Refusal.TOO_LONG)
        buf = bytearray()
        while True:
            data = _read(stream, min(CHUNK, max_bytes + 1 - len(buf)), limits, url)
            if not data:
                return bytes(buf)
            buf += data
            if len(buf) > max_bytes:
                raise _refuse(f"{url}: more than {max_bytes} bytes", Refusal.TOO_LONG)
    finally:
        stream.close()


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_file(
    url: str,
    dest: Path,
    entry: FileEntry,
    *,
    limits: Limits,
    progress: Progress | None = None,
    on_retry: Retrying | None = None,
) -> None:
    """Bring ``url`` to ``dest`` exactly as ``entry`` signs it, resuming a ``.part``."""
    if dest.exists() and dest.stat().st_size == entry.length and _sha256_of(dest) == entry.sha256:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")

    def attempt() -> None:
        have = part.stat().st_size if part.exists() else 0
        if have > entry.length:
            part.unlink()
            have = 0
        if have < entry.length:
            _transfer(url, part, entry, have=have, limits=limits, progress=progress)

    _with_retries(attempt, limits, on_retry)
    if _sha256_of(part) != entry.sha256:
        part.unlink()
        raise _refuse(
            f"{entry.path} does not match the signed manifest "
            "(tampered, or a file from another release)",
            Refusal.HASH_MISMATCH,
        )
    os.replace(part, dest)
    fsync_dir(dest.parent)


def _transfer(
    url: str,
    part: Path,
    entry: FileEntry,
    *,
    have: int,
    limits: Limits,
    progress: Progress | None,
) -> None:
    stream = _open(url, limits, start=have)
    try:
        status = stream.resp.status
        if status == 206 and have:
            match = _CONTENT_RANGE.match(stream.header("Content-Range") or "")
            if not match or int(match.group(1)) != have:
                raise _refuse(f"{entry.path}: server answered the wrong range", Refusal.UNAVAILABLE)
            mode = "ab"
        elif status == 200:
            have, mode = 0, "wb"
        else:
            raise _http_refusal(url, status)
        want = entry.length - have
        declared = stream.header("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > want:
            raise _refuse(
                f"{entry.path}: server offers {declared} bytes, the signed length leaves {want}",
                Refusal.TOO_LONG,
            )
        with part.open(mode) as fh:
            while want > 0:
                data = _read(stream, min(CHUNK, want), limits, entry.path)
                if not data:
                    fh.flush()
                    os.fsync(fh.fileno())
                    raise _refuse(
                        f"{entry.path}: server closed after {entry.length - want} of "
                        f"{entry.length} bytes (partial kept for resume)",
                        Refusal.UNAVAILABLE,
                        transient=True,
                    )
                fh.write(data)
                want -= len(data)
                if progress is not None:
                    progress(entry.length - want, entry.length)
            fh.flush()
            os.fsync(fh.fileno())
        # The signed length is all we take; a server with more to give is lying.
        if declared is None and _read(stream, 1, limits, entry.path, probe=True):
            part.unlink()
            raise _refuse(
                f"{entry.path}: server sends more than the signed {entry.length} bytes",
                Refusal.TOO_LONG,
            )
    finally:
        stream.close()
