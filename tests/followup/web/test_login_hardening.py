"""Issue 19, findings 6 and 8, through the web app on SQLite and PostgreSQL: guesses
sent in parallel, what a failed sign-in tells, the per-address limit, and sessions
that end on the server (sign-out, disabled account, new password)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.testclient import TestClient

from followup.db.auth import User
from followup.web import accounts
from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.rules import load_rules
from tests.support.synckit import REPO, write_config
from tests.support.web import CSRF_RE, PASSWORD, World, csrf, login

WRONG = "not the password at all"


@pytest.fixture
def app(world: World) -> Starlette:
    return create_app(
        world.engine, load_rules(), WebSettings(secret_key="k" * 64), run_refresher=False
    )


@contextmanager
def browser(app: Starlette, address: str = "198.51.100.1") -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver", client=(address, 40000)) as c:
        yield c


def _post_login(c: TestClient, username: str, password: str) -> Any:
    return c.post(
        "/login",
        data={"username": username, "password": password, "csrf": csrf(c), "next": "/"},
        follow_redirects=False,
    )


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], int]:
    """Counts the real argon2 verifications (the hasher itself still runs):
    ``verified(hash)`` is how many were against that hash."""
    seen: list[str] = []
    lock = threading.Lock()

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Any:
            with lock:
                seen.append(hash if isinstance(hash, str) else hash.decode())
            return super().verify(hash, password)

    monkeypatch.setattr(accounts, "_HASHER", Counting())
    return lambda h: sum(1 for s in seen if s == h)


def _hash(world: World, username: str) -> str:
    with Session(world.engine) as s:
        return str(s.scalar(select(User.password_hash).where(User.username == username)))


def test_forty_parallel_guesses_check_at_most_the_limit_and_the_lock_holds(
    app: Starlette, world: World, verified: Callable[[str], int]
) -> None:
    """Finding 6: a read-add-write without a lock let all 40 parallel guesses be
    checked on PostgreSQL, and the right password then signed in."""
    stored = _hash(world, "dr.wang")
    barrier = threading.Barrier(40)
    codes: list[int] = []

    def guess(i: int) -> None:
        with browser(app, f"203.0.113.{i + 1}") as c:  # one address each: a botnet
            token = csrf(c)
            barrier.wait(30)
            r = c.post(
                "/login",
                data={"username": "dr.wang", "password": f"{WRONG} {i}", "csrf": token},
                follow_redirects=False,
            )
            codes.append(r.status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert codes == [401] * 40
    assert verified(stored) <= 5  # the lockout's limit, however many came at once
    with browser(app, "192.0.2.50") as c:
        r = _post_login(c, "dr.wang", PASSWORD)
        assert r.status_code == 401  # locked: the right password does not sign in now


def _message(r: Any) -> str:
    """A sign-in page's answer without its per-request token."""
    return CSRF_RE.sub("", r.text)


def test_unknown_wrong_and_locked_read_the_same_and_cost_the_same(
    app: Starlette, world: World, verified: Callable[[str], int]
) -> None:
    """Finding 6: "locked" answered in 18 ms with its own message, for real accounts
    only: which names exist could be read off."""
    with browser(app) as c:
        for _ in range(5):
            _post_login(c, "admin", WRONG)  # the admin account is now locked
    stored = _hash(world, "dr.wang")
    answers = {}
    costs = {}
    for case, username in (
        ("unknown", "no.such.doctor"),
        ("wrong", "dr.wang"),
        ("locked", "admin"),
    ):
        with browser(app, f"192.0.2.{len(answers) + 10}") as c:
            counted = sum(verified(h) for h in (stored, _hash(world, "admin"), accounts._DUMMY))
            r = _post_login(c, username, WRONG if case != "locked" else PASSWORD)
            after = sum(verified(h) for h in (stored, _hash(world, "admin"), accounts._DUMMY))
        answers[case] = (r.status_code, _message(r))
        costs[case] = after - counted
    assert answers["unknown"] == answers["wrong"] == answers["locked"]
    assert answers["wrong"][0] == 401
    assert costs == {"unknown": 1, "wrong": 1, "locked": 1}  # one argon2 verification each


def test_one_address_is_limited_beside_the_account(app: Starlette, world: World) -> None:
    """Many names tried from one address: past the per-address limit even a right
    password from there fails, while the same account signs in from elsewhere."""
    with browser(app, "203.0.113.77") as c:
        for i in range(31):
            assert _post_login(c, f"guess{i}", WRONG).status_code == 401
        assert _post_login(c, "dr.wang", PASSWORD).status_code == 401
    with browser(app, "192.0.2.77") as c:
        assert _post_login(c, "dr.wang", PASSWORD).status_code == 303


def test_a_copied_cookie_is_dead_after_sign_out(app: Starlette, world: World) -> None:
    """Finding 8: signing out only cleared the cookie; a copy stayed valid for 12 h."""
    with browser(app) as c:
        login(c, "dr.wang")
        stolen = dict(c.cookies)
        assert c.get("/list", follow_redirects=False).status_code == 200
        c.post("/logout", data={"csrf": csrf(c, "/list")}, follow_redirects=False)
    with browser(app, "198.51.100.9") as thief:
        thief.cookies.update(stolen)
        r = thief.get("/list", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_a_copied_cookie_is_dead_once_the_account_is_disabled(app: Starlette, world: World) -> None:
    with browser(app) as c:
        login(c, "dr.wang")
        stolen = dict(c.cookies)
    with browser(app, "192.0.2.2") as a:
        login(a, "admin")
        a.post(
            f"/admin/users/{world.doctor_id}/active",
            data={"csrf": csrf(a, "/admin"), "active": "0"},
            follow_redirects=False,
        )
        a.post(
            f"/admin/users/{world.doctor_id}/active",
            data={"csrf": csrf(a, "/admin"), "active": "1"},
            follow_redirects=False,
        )
    with browser(app, "198.51.100.9") as thief:
        thief.cookies.update(stolen)
        assert thief.get("/list", follow_redirects=False).status_code == 303


def test_a_copied_cookie_is_dead_after_a_new_password(
    app: Starlette, world: World, followup_url: str, tmp_path: Any
) -> None:
    with browser(app) as c:
        login(c, "dr.wang")
        stolen = dict(c.cookies)
        assert c.get("/list", follow_redirects=False).status_code == 200
    config = write_config(
        tmp_path / "f.toml",
        {"station": {"data_dir": str(tmp_path / "d")}, "followup": {"database_url": followup_url}},
    )
    r = subprocess.run(
        [sys.executable, "-m", "healthkiosk", "--config", str(config), "followup", "user",
         "password", "dr.wang", "--password-stdin"],
        input="a brand new password\n", cwd=REPO, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    with browser(app, "198.51.100.9") as thief:
        thief.cookies.update(stolen)
        assert thief.get("/list", follow_redirects=False).status_code == 303
    with browser(app) as c:
        assert _post_login(c, "dr.wang", PASSWORD).status_code == 401
        assert _post_login(c, "dr.wang", "a brand new password").status_code == 303


def _serve(tmp_path: Any, extra: dict[str, Any]) -> tuple[subprocess.Popen[bytes], int]:
    from tests.support.synckit import free_port, spawn, wait_port

    port = free_port()
    url = f"sqlite:///{tmp_path / 'f.sqlite'}"
    config = write_config(
        tmp_path / "serve.toml",
        {
            "station": {"data_dir": str(tmp_path / "d")},
            "followup": {"database_url": url, "listen_port": port, **extra},
        },
    )
    r = subprocess.run(
        [sys.executable, "-m", "healthkiosk", "--config", str(config), "followup", "user",
         "add", "dr.tls", "--role", "doctor", "--password-stdin"],
        input=f"{PASSWORD}\n", cwd=REPO, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    proc = spawn(config, "followup", "serve", "--no-mqtt-alerts", log=tmp_path / "serve.log")
    wait_port(port, 30)
    return proc, port


def _sign_in_cookie(port: int, headers: dict[str, str], *, tls: bool) -> str:
    """Sign in as the proxy would pass it on; the Set-Cookie of the answer. (The
    cookie is carried by hand: a client on plain HTTP keeps no Secure cookie.)"""
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as c:
        page = c.get("/login")
        assert ("strict-transport-security" in page.headers) is tls
        m = CSRF_RE.search(page.text)
        assert m, page.text
        first = page.headers["set-cookie"].split(";", 1)[0]
        c.cookies.clear()
        r = c.post(
            "/login",
            data={"username": "dr.tls", "password": PASSWORD, "csrf": m.group(1), "next": "/"},
            headers={"Cookie": first},
        )
        assert r.status_code == 303, r.text
        return str(r.headers["set-cookie"])


def test_the_session_cookie_is_secure_behind_a_tls_proxy(tmp_path: Any) -> None:
    """Finding 8: the shipped service never set the Secure flag, and uvicorn ignored
    the proxy's headers. Now a request that reached the proxy over TLS (its
    X-Forwarded-Proto, trusted from loopback by default) gets a Secure cookie."""
    from tests.support.synckit import stop

    proc, port = _serve(tmp_path, {})
    try:
        tls = _sign_in_cookie(port, {"X-Forwarded-Proto": "https"}, tls=True).lower()
        assert "; secure" in tls and tls.startswith("__host-hk_session=")
        assert "httponly" in tls and "samesite=strict" in tls
        plain = _sign_in_cookie(port, {}, tls=False).lower()
        assert "; secure" not in plain  # a plain-HTTP request on loopback (the demo)
    finally:
        stop(proc)


def test_proxy_headers_are_trusted_only_from_the_configured_proxies(tmp_path: Any) -> None:
    from tests.support.synckit import stop

    proc, port = _serve(tmp_path, {"trusted_proxies": ["192.0.2.1"]})
    try:
        cookie = _sign_in_cookie(port, {"X-Forwarded-Proto": "https"}, tls=False).lower()
        assert "; secure" not in cookie  # 127.0.0.1 is not a trusted proxy here
    finally:
        stop(proc)
