"""Downloads: resumed with Range, stopped at the signed length and at the deadline."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from followup.rollout.releases import make_server, parse_range
from healthkiosk.errors import UpdateRefusedError
from updater import download
from updater.manifest import FileEntry, Refusal

DATA = hashlib.shake_256(b"bundle").digest(300_000)
ENTRY = FileEntry("wheels/x.whl", hashlib.sha256(DATA).hexdigest(), len(DATA))


def limits(
    seconds: float = 10.0, read_timeout: float = 5.0, retries: int = 0, backoff: float = 0.01
) -> download.Limits:
    return download.Limits(
        deadline=time.monotonic() + seconds,
        read_timeout_s=read_timeout,
        retries=retries,
        backoff_s=backoff,
    )


class Hostile(BaseHTTPRequestHandler):
    """Misbehaving servers, chosen by path."""

    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self.server.paths.append((self.path, self.headers.get("Range")))  # type: ignore[attr-defined]
        self.send_response(200)
        if self.path == "/lying-length":
            self.send_header("Content-Length", str(len(DATA) * 100))
        self.end_headers()
        try:
            if self.path in ("/endless", "/lying-length"):
                while True:
                    self.wfile.write(b"A" * 65536)
            elif self.path == "/trickle":
                for i in range(len(DATA)):
                    self.wfile.write(DATA[i : i + 1])
                    self.wfile.flush()
                    time.sleep(0.05)
            elif self.path == "/short":
                self.wfile.write(DATA[: len(DATA) // 3])
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[str]:
    """Run ``server`` on a thread; yield its base URL."""
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def recording(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A server whose requests are kept as (path, Range) in ``server.paths``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.paths = []  # type: ignore[attr-defined]
    server.seen = {}  # type: ignore[attr-defined]
    return server


@pytest.fixture
def hostile() -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    server = recording(Hostile)
    with serving(server) as url:
        yield url, server.paths  # type: ignore[attr-defined]


class Flaky(BaseHTTPRequestHandler):
    """A release server on a bad link, by path: ``/drop/N`` cuts the first N
    answers after a third of what was asked, ``/busy/N`` answers the first N
    with 503, ``/gone`` is a 404; afterwards each serves ``DATA`` with ranges."""

    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        srv = self.server
        srv.paths.append((self.path, self.headers.get("Range")))  # type: ignore[attr-defined]
        kind, _, count = self.path.strip("/").partition("/")
        seen = srv.seen.setdefault(self.path, 0)  # type: ignore[attr-defined]
        srv.seen[self.path] = seen + 1  # type: ignore[attr-defined]
        bad = seen < int(count or 0)
        if kind == "gone" or (kind == "busy" and bad):
            self.send_response(404 if kind == "gone" else 503)
            self.end_headers()
            return
        asked = self.headers.get("Range")
        start = parse_range(asked, len(DATA))[0] if asked else 0  # type: ignore[index]
        body = DATA[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(DATA) - 1}/{len(DATA)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body[: len(body) // 3] if kind == "drop" and bad else body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    server = recording(Flaky)
    with serving(server) as url:
        yield url, server.paths  # type: ignore[attr-defined]


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "srv"
    (root / "wheels").mkdir(parents=True)
    (root / "wheels" / "x.whl").write_bytes(DATA)
    with serving(make_server(root)) as url:
        yield url, root


def test_download_checks_hash_and_length(files: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = files
    dest = tmp_path / "in" / "x.whl"
    download.fetch_file(f"{url}/wheels/x.whl", dest, ENTRY, limits=limits())
    assert dest.read_bytes() == DATA
    assert not dest.with_name("x.whl.part").exists()


def test_a_partial_download_resumes_with_range(files: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = files
    dest = tmp_path / "in" / "x.whl"
    dest.parent.mkdir()
    dest.with_name("x.whl.part").write_bytes(DATA[:100_000])
    seen: list[int] = []
    download.fetch_file(
        f"{url}/wheels/x.whl", dest, ENTRY, limits=limits(), progress=lambda d, t: seen.append(d)
    )
    assert dest.read_bytes() == DATA
    assert seen[0] > 100_000  # the first chunk already counted the kept 100 000 bytes


def test_a_tampered_file_is_refused_and_not_kept(files: tuple[str, Path], tmp_path: Path) -> None:
    url, root = files
    (root / "wheels" / "x.whl").write_bytes(DATA[:-1] + b"\x00")
    dest = tmp_path / "in" / "x.whl"
    with pytest.raises(UpdateRefusedError) as info:
        download.fetch_file(f"{url}/wheels/x.whl", dest, ENTRY, limits=limits())
    assert info.value.reason == Refusal.HASH_MISMATCH
    assert not dest.exists() and not dest.with_name("x.whl.part").exists()


def test_a_longer_file_than_signed_is_refused(files: tuple[str, Path], tmp_path: Path) -> None:
    url, root = files
    (root / "wheels" / "x.whl").write_bytes(DATA + b"more")
    with pytest.raises(UpdateRefusedError) as info:
        download.fetch_file(f"{url}/wheels/x.whl", tmp_path / "x.whl", ENTRY, limits=limits())
    assert info.value.reason == Refusal.TOO_LONG


@pytest.mark.parametrize("path", ["/endless", "/lying-length"])
def test_endless_data_stops_at_the_signed_length(
    hostile: tuple[str, list[tuple[str, str | None]]], tmp_path: Path, path: str
) -> None:
    url, _ = hostile
    dest = tmp_path / "x.whl"
    t0 = time.monotonic()
    with pytest.raises(UpdateRefusedError) as info:
        download.fetch_file(f"{url}{path}", dest, ENTRY, limits=limits())
    assert info.value.reason == Refusal.TOO_LONG
    assert time.monotonic() - t0 < 5
    assert not dest.exists()
    part = dest.with_name("x.whl.part")
    assert not part.exists() or part.stat().st_size <= ENTRY.length


def test_an_endless_manifest_stops_at_one_mebibyte(
    hostile: tuple[str, list[tuple[str, str | None]]],
) -> None:
    url, _ = hostile
    with pytest.raises(UpdateRefusedError) as info:
        download.fetch_bytes(f"{url}/endless", max_bytes=1 << 20, limits=limits())
    assert info.value.reason == Refusal.TOO_LONG


def test_trickling_data_is_stopped_by_the_deadline(
    hostile: tuple[str, list[tuple[str, str | None]]], tmp_path: Path
) -> None:
    url, _ = hostile
    t0 = time.monotonic()
    with pytest.raises(UpdateRefusedError) as info:
        # 20 bytes a second never trips the 5 s read timeout: only the deadline stops it.
        download.fetch_file(f"{url}/trickle", tmp_path / "x.whl", ENTRY, limits=limits(1.5))
    elapsed = time.monotonic() - t0
    assert info.value.reason == Refusal.DEADLINE
    assert 1.4 < elapsed < 3.0


def test_a_dropped_connection_keeps_the_partial_file_for_resume(
    hostile: tuple[str, list[tuple[str, str | None]]], tmp_path: Path
) -> None:
    url, _ = hostile
    dest = tmp_path / "x.whl"
    with pytest.raises(UpdateRefusedError) as info:
        download.fetch_file(f"{url}/short", dest, ENTRY, limits=limits())
    assert info.value.reason == Refusal.UNAVAILABLE
    assert dest.with_name("x.whl.part").stat().st_size == len(DATA) // 3


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-", 10, (0, 9)),
        ("bytes=4-", 10, (4, 9)),
        ("bytes=2-5", 10, (2, 5)),
        ("bytes=2-50", 10, (2, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=10-", 10, None),
        ("bytes=-0", 10, None),
    ],
)
def test_range_header_parsing(header: str, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=1-2,4-5", "items=1-2", "bytes=-"])
def test_range_headers_not_understood(header: str) -> None:
    with pytest.raises(ValueError):
        parse_range(header, 10)


def test_the_release_server_answers_ranges(files: tuple[str, Path]) -> None:
    import http.client

    url, _ = files
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("GET", "/wheels/x.whl", headers={"Range": "bytes=1000-"})
    resp = conn.getresponse()
    assert resp.status == 206
    assert resp.getheader("Content-Range") == f"bytes 1000-{len(DATA) - 1}/{len(DATA)}"
    assert resp.read() == DATA[1000:]
    conn.request("GET", "/wheels/x.whl", headers={"Range": f"bytes={len(DATA)}-"})
    resp = conn.getresponse()
    assert resp.status == 416
    resp.read()
    conn.request("GET", "/wheels/")
    resp = conn.getresponse()
    assert resp.status == 404  # no listings
    resp.read()
    conn.request("GET", "/../../etc/passwd")
    resp = conn.getresponse()
    assert resp.status == 404
    conn.close()


def test_a_dropped_connection_is_retried_from_where_it_stopped(
    flaky: tuple[str, list[tuple[str, str | None]]], tmp_path: Path
) -> None:
    url, paths = flaky
    dest = tmp_path / "x.whl"
    retries: list[tuple[int, float, str]] = []
    download.fetch_file(
        f"{url}/drop/2",
        dest,
        ENTRY,
        limits=limits(retries=3),
        on_retry=lambda n, wait, err: retries.append((n, wait, err.reason)),
    )
    assert dest.read_bytes() == DATA
    first = len(DATA) // 3
    second = first + (len(DATA) - first) // 3
    assert [r for _, r in paths] == [None, f"bytes={first}-", f"bytes={second}-"]
    assert retries == [(2, 0.01, "unavailable"), (3, 0.02, "unavailable")]


def test_a_busy_server_is_retried_and_a_missing_file_is_not(
    flaky: tuple[str, list[tuple[str, str | None]]], tmp_path: Path
) -> None:
    url, paths = flaky
    download.fetch_file(f"{url}/busy/2", tmp_path / "x.whl", ENTRY, limits=limits(retries=2))
    assert (tmp_path / "x.whl").read_bytes() == DATA
    with pytest.raises(UpdateRefusedError) as info:
        download.fetch_file(f"{url}/gone", tmp_path / "y.whl", ENTRY, limits=limits(retries=5))
    assert info.value.reason == Refusal.UNAVAILABLE and "HTTP 404" in str(info.value)
    assert [p for p, _ in paths].count("/gone") == 1


def test_retries_run_out_and_the_partial_file_is_kept(
    flaky: tuple[str, list[tuple[str, str | None]]], tmp_path: Path
) -> None:
    url, paths = flaky
    dest = tmp_path / "x.whl"
    with pytest.raises(UpdateRefusedError) as info:
        download.fetch_file(f"{url}/drop/9", dest, ENTRY, limits=limits(retries=2))
    assert info.value.reason == Refusal.UNAVAILABLE
    assert len(paths) == 3
    part = dest.with_name("x.whl.part").read_bytes()
    assert 0 < len(part) < len(DATA) and DATA.startswith(part)


def test_a_retry_never_waits_past_the_deadline(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: connections refused
    t0 = time.monotonic()
    with pytest.raises(UpdateRefusedError) as info:
        download.fetch_file(
            f"http://127.0.0.1:{port}/x.whl",
            tmp_path / "x.whl",
            ENTRY,
            limits=limits(seconds=1.0, retries=10, backoff=0.4),
        )
    assert info.value.reason == Refusal.UNAVAILABLE
    assert time.monotonic() - t0 < 1.0  # 0.4 + 0.8 would pass the deadline: no second wait


def test_the_manifest_is_retried_too(
    flaky: tuple[str, list[tuple[str, str | None]]],
) -> None:
    url, _ = flaky
    got = download.fetch_bytes(f"{url}/busy/1", max_bytes=1 << 20, limits=limits(retries=1))
    assert got == DATA
