"""The error pages nobody's view writes, in the page's language: a page that does not
exist (404), a request a page does not take (405), an error no view caught (500) — the
site's own page, never the framework's plain English."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.routing import Route
from starlette.testclient import TestClient

from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.rules import load_rules
from tests.followup.web.test_web_chinese import english_words
from tests.support.web import World, login


@pytest.fixture
def followup_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'followup.sqlite'}"


def _english(html: str) -> list[str]:
    return [t for t in english_words(html) if t != "Dr Wang"]  # (the account's name)


def _client(world: World, language: str) -> TestClient:
    app = create_app(world.engine, load_rules(), WebSettings(secret_key="e" * 64))

    async def boom(request: Request) -> None:
        raise RuntimeError("a bug")

    app.router.routes.append(Route("/boom", boom))
    return TestClient(
        app,
        base_url="http://testserver",
        headers={"Accept-Language": language},
        raise_server_exceptions=False,
    )


def test_a_missing_page_a_wrong_method_and_a_bug_speak_chinese(world: World) -> None:
    with _client(world, "zh-CN,zh;q=0.9") as c:
        login(c, "dr.wang")
        r = c.get("/no/such/page")
        assert r.status_code == 404 and "没有这个页面。" in r.text
        assert 'id="account-link"' in r.text  # the signed-in doctor keeps the site's links
        assert _english(r.text) == []
        r = c.get("/logout")
        assert r.status_code == 405 and "此页面不接受这种请求。" in r.text
        assert "POST" in r.headers["allow"] and _english(r.text) == []
        r = c.get("/boom")
        assert r.status_code == 500 and "服务器出错" in r.text
        assert _english(r.text) == [] and "a bug" not in r.text


def test_the_same_pages_in_english(world: World) -> None:
    with _client(world, "en") as c:
        assert "No such page." in c.get("/nowhere").text
        assert "Something went wrong on the server" in c.get("/boom").text
