"""Downloads: resumed with Range, stopped at the signed length and at the deadline."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from followup.releases import make_server, parse_range
from healthkiosk.errors import UpdateRefusedError
from sync.updater import download
from sync.updater.manifest import FileEntry, Refusal

DATA = hashlib.shake_256(b"bundle").digest(300_000)
ENTRY = FileEntry("wheels/x.whl", hashlib.sha256(DATA).hexdigest(), len(DATA))


def limits(seconds: float = 10.0, read_timeout: float = 5.0) -> download.Limits:
    return download.Limits(deadline=time.monotonic() + seconds, read_timeout_s=read_timeout)


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


@pytest.fixture
def hostile() -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    server.paths = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.paths  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "srv"
    (root / "wheels").mkdir(parents=True)
    (root / "wheels" / "x.whl").write_bytes(DATA)
    server = make_server(root)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


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
