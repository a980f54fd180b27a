"""Security of the follow-up web app: authentication, roles, CSRF, lockout, inert input."""

from __future__ import annotations

import re

import markupsafe
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from followup.db.audit import AuditEvent
from followup.db.models import Resident, Station
from followup.db.reviews import Review
from followup.web.accounts import FAILED
from followup.web.app import PUBLIC_PATHS, ROUTES
from tests.support.web import (
    DISTRICT,
    PASSWORD,
    World,
    csrf,
    login,
)

PARAMS = re.compile(r"\{(\w+):(?:int|rowid)\}")


def _routes() -> list[tuple[str, str]]:
    out = []
    for r in ROUTES:
        for method in sorted(r.methods or []):
            if method == "HEAD":
                continue
            out.append((method, PARAMS.sub("1", r.path)))
    return out


PROTECTED = [(m, p) for m, p in _routes() if p not in PUBLIC_PATHS and p != "/"]
ADMIN = [(m, p) for m, p in PROTECTED if p.startswith("/admin")]
EVERY_ROLE = [(m, p) for m, p in PROTECTED if p.startswith("/account")]
"""One's own account (language, password): every signed-in role."""
CLINICAL = [(m, p) for m, p in PROTECTED if not p.startswith(("/admin", "/account", "/help"))]
"""(Calls for staff, /help, are on the doctor's list and the fleet page: both roles.)"""


def test_route_table_is_covered() -> None:
    assert len(PROTECTED) >= 14 and ADMIN and CLINICAL and EVERY_ROLE


@pytest.mark.parametrize("username", ["dr.wang", "admin"])
def test_every_role_reaches_its_own_account_page(client: TestClient, username: str) -> None:
    login(client, username)
    assert client.get("/account", follow_redirects=False).status_code == 200


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_route_refuses_the_unauthenticated(
    client: TestClient, world: World, method: str, path: str
) -> None:
    token = csrf(client)  # even with a valid CSRF token, no session means no access
    if method == "GET":
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    else:
        r = client.post(
            path, data={"csrf": token, "note": "x", "outcome": "removed"}, follow_redirects=False
        )
        assert r.status_code == 401
    assert "Zhang Wei" not in r.text and "186/104" not in r.text


def test_home_redirects_by_role(client: TestClient) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    login(client, "admin")
    assert client.get("/", follow_redirects=False).headers["location"] == "/admin"


@pytest.mark.parametrize(("method", "path"), ADMIN)
def test_doctor_cannot_reach_admin_pages(doctor: TestClient, method: str, path: str) -> None:
    token = csrf(doctor, "/list")
    if method == "GET":
        r = doctor.get(path, follow_redirects=False)
    else:
        r = doctor.post(
            path,
            data={
                "csrf": token,
                "username": "mallory",
                "role": "admin",
                "password": "0123456789ab",
                "active": "0",
            },
            follow_redirects=False,
        )
    assert r.status_code == 403
    assert "mallory" not in doctor.get("/list").text


@pytest.mark.parametrize(("method", "path"), CLINICAL)
def test_admin_cannot_reach_clinical_pages(admin: TestClient, method: str, path: str) -> None:
    token = csrf(admin, "/admin")
    if method == "GET":
        r = admin.get(path, follow_redirects=False)
    else:
        r = admin.post(path, data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 403
    assert "Zhang Wei" not in r.text


POSTS = [(m, p) for m, p in _routes() if m == "POST"]


@pytest.mark.parametrize("path", [p for _m, p in POSTS])
@pytest.mark.parametrize("token", [None, "forged-token-forged-token-forged-token"])
def test_forms_without_their_csrf_token_are_refused(
    client: TestClient, world: World, path: str, token: str | None
) -> None:
    user = "admin" if path.startswith("/admin") else "dr.wang"
    if path != "/login":
        login(client, user)
    data = {
        "username": "dr.wang",
        "password": PASSWORD,
        "outcome": "agreed_to_visit",
        "method": "phone",
        "note": "csrf",
        "phone": "1",
        "role": "doctor",
        "active": "0",
    }
    if token:
        data["csrf"] = token
    r = client.post(path, data=data, follow_redirects=False)
    assert r.status_code == 403
    with Session(world.engine) as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 0
        assert s.get(Resident, 1).phone == "13800000000"  # type: ignore[union-attr]


def test_lockout_after_repeated_failures(client: TestClient, world: World) -> None:
    for _ in range(5):
        token = csrf(client)
        r = client.post(
            "/login", data={"username": "dr.wang", "password": "wrong password!", "csrf": token}
        )
        assert r.status_code == 401
    token = csrf(client)
    r = client.post("/login", data={"username": "dr.wang", "password": PASSWORD, "csrf": token})
    assert r.status_code == 401 and FAILED in markupsafe.Markup(r.text).unescape()
    with Session(world.engine) as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "login_failed"))
        assert [e.detail["reason"] for e in events] == ["bad"] * 5 + ["locked"]
    # an administrator unlocks the account
    login(client, "admin")
    token = csrf(client, "/admin")
    client.post(f"/admin/users/{world.doctor_id}/active", data={"csrf": token, "active": "1"})
    client.cookies.clear()
    login(client, "dr.wang")


def test_unknown_user_and_wrong_password_read_the_same(client: TestClient) -> None:
    a = client.post("/login", data={"username": "nobody", "password": "x", "csrf": csrf(client)})
    b = client.post("/login", data={"username": "dr.wang", "password": "x", "csrf": csrf(client)})
    assert a.status_code == b.status_code == 401
    assert FAILED in markupsafe.Markup(a.text).unescape()
    assert FAILED in markupsafe.Markup(b.text).unescape()


def test_session_cookie_is_signed_httponly_samesite(client: TestClient) -> None:
    token = csrf(client)
    r = client.post(
        "/login",
        data={"username": "dr.wang", "password": PASSWORD, "csrf": token},
        follow_redirects=False,
    )
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    client.cookies.set("hk_session", "eyJ1aWQiOiAxfQ==.forged.signature")
    assert client.get("/list", follow_redirects=False).status_code == 303


def test_security_headers(doctor: TestClient) -> None:
    r = doctor.get("/list")
    csp = r.headers["content-security-policy"]
    assert "script-src 'nonce-" in csp and "frame-ancestors 'none'" in csp
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)  # type: ignore[union-attr]
    assert f'<script nonce="{nonce}">' in r.text
    assert r.headers["x-frame-options"] == "DENY"


def test_open_redirect_refused(client: TestClient) -> None:
    token = csrf(client)
    r = client.post(
        "/login",
        data={
            "username": "dr.wang",
            "password": PASSWORD,
            "csrf": token,
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/list"


EVIL = [
    "<script>alert('xss')</script>",
    "'; DROP TABLE residents; --",
    '" onmouseover="alert(1)" x="',
    "Robert'); DELETE FROM users WHERE ('1'='1",
    "<img src=x onerror=alert(1)>",
]


def _inert(page: str, value: str) -> None:
    escaped = str(markupsafe.escape(value))
    assert escaped != value and value not in page
    assert escaped in page


@pytest.mark.parametrize("evil", EVIL)
def test_injection_strings_in_every_field_are_stored_and_shown_inert(
    doctor: TestClient, world: World, evil: str
) -> None:
    rid = world.urgent_id
    token = csrf(doctor, f"/residents/{rid}")
    r = doctor.post(
        f"/residents/{rid}/edit",
        data={
            "csrf": token,
            "phone": evil[:40],
            "address": evil,
            "area": evil,
            "hypertension": "on",
        },
    )
    assert r.status_code == 200, r.text
    page = doctor.get(f"/residents/{rid}").text
    for v in (evil[:40], evil):
        _inert(page, v)
    with Session(world.engine) as s:
        res = s.get(Resident, rid)
        assert res is not None and res.address == evil and res.area == evil
        assert s.scalar(select(func.count()).select_from(Resident)) == 3
    # the list shows the area and phone
    listing = doctor.get("/list").text
    _inert(listing, evil)
    # filters echo their values back
    r = doctor.get("/list", params={"station": evil, "from": evil, "doctor": evil})
    assert r.status_code == 200
    assert evil[:63] not in r.text
    # the review note and the call history
    token = csrf(doctor, f"/residents/{rid}")
    seen = re.search(r'name="seen_until" value="([^"]*)"', doctor.get(f"/residents/{rid}").text)
    doctor.post(
        f"/residents/{rid}/reviews",
        data={
            "csrf": token,
            "outcome": "agreed_to_visit",
            "method": "phone",
            "note": evil,
            "seen_until": seen.group(1) if seen else "",
        },
    )
    _inert(doctor.get(f"/residents/{rid}").text, evil)
    with Session(world.engine) as s:
        assert s.scalar(select(Review.note)) == evil
    # CSV cells are text, never formulas
    csv_text = doctor.get("/list.csv").text
    for line in csv_text.splitlines()[1:]:
        for cell in line.split(","):
            assert not cell.startswith(("=", "+", "@"))


@pytest.mark.parametrize("evil", EVIL[:2])
def test_injection_in_admin_fields_and_login(admin: TestClient, world: World, evil: str) -> None:
    token = csrf(admin, "/admin")
    r = admin.post(
        "/admin/users",
        data={
            "csrf": token,
            "username": evil,
            "role": "doctor",
            "password": "long enough pw",
            "display_name": evil,
        },
    )
    assert r.status_code == 400  # usernames are a-z 0-9 . _ -
    r = admin.post(
        "/admin/users",
        data={
            "csrf": token,
            "username": "dr.li",
            "role": "doctor",
            "password": "long enough pw",
            "display_name": evil,
        },
    )
    assert r.status_code == 200
    _inert(r.text, evil)
    # a failed login with the string as username is audited and shown inert
    admin.cookies.clear()
    admin.post("/login", data={"username": evil, "password": "x", "csrf": csrf(admin)})
    login(admin, "admin")
    _inert(admin.get("/admin/audit").text, evil[:64])
    with Session(world.engine) as s:
        assert s.scalar(select(func.count()).select_from(Resident)) == 3


def test_resident_name_from_ingest_is_inert(doctor: TestClient, world: World) -> None:
    evil = EVIL[0]
    with Session(world.engine) as s, s.begin():
        res = s.get(Resident, world.abnormal_id)
        assert res is not None
        res.name = evil
    from followup.db.status_store import refresh_residents
    from healthkiosk.rules import load_rules

    with Session(world.engine) as s, s.begin():
        refresh_residents(s, [world.abnormal_id], rules=load_rules(), now=world.now, tz=DISTRICT)
    _inert(doctor.get("/list").text, evil)
    _inert(doctor.get(f"/residents/{world.abnormal_id}").text, evil)


@pytest.mark.parametrize("evil", EVIL)
def test_fleet_filters_and_station_names_are_shown_inert(
    admin: TestClient, world: World, evil: str
) -> None:
    with Session(world.engine) as s, s.begin():
        station = s.get(Station, "st-002")
        assert station is not None
        station.name = evil
    # free text is echoed escaped (the search in lower case); it matches nothing
    r = admin.get("/admin/fleet", params={"group": evil, "version": evil, "q": evil})
    assert r.status_code == 200 and 'data-station="' not in r.text
    _inert(r.text, evil[:63])
    _inert(r.text, evil.lower()[:63])
    # a choice that is not one is refused and not echoed; the page still shows
    r = admin.get("/admin/fleet", params={"alert": evil, "page": evil})
    assert r.status_code == 200
    assert "alert: not one of any, offline" in r.text and "page: not a page number" in r.text
    assert 'data-station="st-001"' in r.text
    _inert(r.text, evil)  # st-002's name, shown once: the refused values are not echoed
    assert r.text.count(str(markupsafe.escape(evil))) == 1
    with Session(world.engine) as s:
        assert s.scalar(select(func.count()).select_from(Station)) == 2


@pytest.mark.parametrize(
    "page", ["0", "-1", "abc", "1.5", "1e3", "0x10", "100001", "9" * 40, "２", "1 OR 1=1"]
)
def test_fleet_bad_page_numbers_show_the_first_page(admin: TestClient, page: str) -> None:
    r = admin.get("/admin/fleet", params={"page": page})
    assert r.status_code == 200
    assert "page: not a page number (1 to 100000)" in r.text
    assert re.findall(r'<tr data-station="([^"]+)"', r.text) == ["st-001", "st-002"]
