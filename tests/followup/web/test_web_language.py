"""The page's language: the account's setting, else the browser's, else Chinese (both databases)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.db.audit import AuditEvent
from followup.db.auth import User
from tests.support.web import World, csrf, login, make_client


def _title(html: str) -> str:
    return html.split("<title>", 1)[1].split("</title>", 1)[0]


def test_browser_then_account_setting_decides(world: World) -> None:
    with make_client(world, accept_language="zh-CN,zh;q=0.9") as c:
        page = c.get("/login")
        assert '<html lang="zh-CN">' in page.text and "登录" in _title(page.text)
        login(c, "dr.wang")
        assert "随访名单" in c.get("/list").text
        account = c.get("/account")
        assert account.status_code == 200 and "我的账号" in account.text
        r = c.post(
            "/account", data={"language": "en", "csrf": csrf(c, "/account")}, follow_redirects=True
        )
        assert r.status_code == 200
        assert '<html lang="en">' in r.text and "Language saved." in r.text
        # the account's setting wins over the browser's Chinese
        assert "Follow-up list" in c.get("/list").text
        r = c.post(
            "/account", data={"language": "browser", "csrf": csrf(c, "/account")},
            follow_redirects=True,
        )  # fmt: skip
        assert "语言已保存。" in r.text and '<html lang="zh-CN">' in r.text
        refused = c.post("/account", data={"language": "fr", "csrf": csrf(c, "/account")})
        assert refused.status_code == 400 and "请从列表中选择语言。" in refused.text
    with Session(world.engine) as s:
        assert s.scalars(select(User.language).where(User.id == world.doctor_id)).one() is None
        changes = [
            e.detail["language"]
            for e in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "account_language")
                .order_by(AuditEvent.id)
            )
        ]
        assert changes == ["en", None]


def test_an_english_browser_gets_english_and_anyone_else_chinese(world: World) -> None:
    with make_client(world, accept_language="en-US,en;q=0.9") as c:
        assert "Sign in" in _title(c.get("/login").text)
    with make_client(world, accept_language="fr-FR") as c:
        assert "登录" in _title(c.get("/login").text)
    with make_client(world, accept_language="") as c:
        assert "登录" in _title(c.get("/login").text)


def test_the_account_page_is_for_every_role_and_needs_its_token(world: World) -> None:
    with make_client(world, accept_language="zh-CN") as c:
        login(c, "admin")
        assert c.get("/account").status_code == 200
        r = c.post("/account", data={"language": "en"})
        assert r.status_code == 403
    with make_client(world) as c:
        r = c.get("/account", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
