"""Serving published releases over HTTP, with Range for resumable downloads.

The release directory (``admin release publish`` fills it) is plain static
files: ``<release>-<version>/manifest.json``, the bundle's wheels beside it,
and ``latest`` naming the newest manifest. Nothing here needs to be trusted:
the stations check every byte against the signed manifest. What the server
must do is answer ``Range: bytes=N-`` with ``206 Partial Content`` so a
station on a poor link resumes instead of starting over.

:class:`ReleaseRequestHandler` is an :mod:`http.server` handler (no directory
listings, single byte ranges, ``Content-Length`` always); :func:`serve` runs it.
The follow-up web app can mount the same directory with Starlette's
``StaticFiles``, whose ``FileResponse`` also honours ``Range``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` inclusive for a single satisfiable range; None if unsatisfiable.

    Raises ValueError for a header we do not understand (answered with the
    whole file, as RFC 9110 allows).
    """
    match = _RANGE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        raise ValueError(header)
    first_s, last_s = match.groups()
    if not first_s:  # suffix: the last N bytes
        n = int(last_s)
        if n == 0:
            return None
        return max(0, size - n), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if first >= size or last < first:
        return None
    return first, min(last, size - 1)


class ReleaseRequestHandler(SimpleHTTPRequestHandler):
    server_version = "healthkiosk-releases"
    protocol_version = "HTTP/1.1"

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        self.send_error(HTTPStatus.NOT_FOUND, "no listings")

    def send_head(self) -> BinaryIO | None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(HTTPStatus.NOT_FOUND)
            return None
        fh = path.open("rb")
        size = os.fstat(fh.fileno()).st_size
        first, last = 0, size - 1
        status = HTTPStatus.OK
        header = self.headers.get("Range")
        if header:
            try:
                span = parse_range(header, size)
            except ValueError:
                span = (0, size - 1)  # not understood: the whole file, 200
                header = None
            if span is None:
                fh.close()
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if header:
                status = HTTPStatus.PARTIAL_CONTENT
            first, last = span
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "no-cache")
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.send_header("Content-Length", str(max(0, last - first + 1)))
        self.end_headers()
        fh.seek(first)
        self._remaining = max(0, last - first + 1)
        return fh

    def copyfile(self, source: BinaryIO, outputfile: BinaryIO) -> None:  # type: ignore[override]
        left = getattr(self, "_remaining", None)
        if left is None:
            shutil.copyfileobj(source, outputfile)
            return
        while left > 0:
            chunk = source.read(min(64 * 1024, left))
            if not chunk:
                break
            outputfile.write(chunk)
            left -= len(chunk)

    def log_message(self, format: str, *args: object) -> None:
        pass


class ReleaseServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A station that goes away mid-download is normal (it resumes later)."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, TimeoutError)):
            log.debug("client %s went away: %s", client_address, exc)
            return
        log.exception("error serving %s", client_address)


def make_server(directory: Path, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    handler = partial(ReleaseRequestHandler, directory=str(directory))
    server = ReleaseServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve(directory: Path, host: str = "127.0.0.1", port: int = 8081) -> None:
    """Serve ``directory`` until interrupted."""
    with make_server(directory, host, port) as server:
        server.serve_forever()
