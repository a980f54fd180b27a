"""Issue 19, loss you can see: once a day a station reports, per day, how many
readings it holds and how many were acknowledged; the ingest compares them
with what it stored, and the fleet page raises an alert naming the station and
the day for any difference. A real station (``healthkiosk sync run``), a real
Mosquitto and ingest, the follow-up database on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from followup.db.engine import make_engine
from followup.db.fleet import StationDayCount
from followup.db.models import Reading
from followup.web.accounts import add_user
from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.rules import load_rules
from tests.support.flowcheck import wait_until
from tests.support.synckit import Mosquitto, Notify, fill_store, outbox_counts, running, spawn, stop
from tests.support.web import PASSWORD, login


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def _acknowledged(engine: object) -> int:
    return sum(r.acknowledged for r in _rows(engine))


def _rows(engine: object) -> list[StationDayCount]:
    with Session(engine) as s:  # type: ignore[call-overload]
        return list(s.scalars(select(StationDayCount).order_by(StationDayCount.day)))


async def test_a_reading_acknowledged_but_not_stored_raises_an_alert_for_its_day(
    mosquitto: Callable[..., Mosquitto], deploy, followup_url: str, notify: Notify
) -> None:
    station = "st-ct"
    broker = mosquitto([station])
    d = deploy(broker, station, followup_url)
    d.kiosk.write_text(d.kiosk.read_text() + "\n[store]\nretention_days = 60\n")
    fill_store(d.store, 30)  # 30 days ago, within a few minutes
    engine = make_engine(followup_url)
    with running(spawn(d.followup, "followup", "ingest", notify=notify)) as ing:
        assert notify.wait_for("STATUS=connected", 15)
        with running(spawn(d.kiosk, "sync", "run", notify=notify)) as sync:
            assert notify.wait_for("STATUS=connected to", 15)
            assert wait_until(lambda: outbox_counts(d.store) == (0, 30, 0), 30)
            # The first report of this start may have gone before the receipts.
            assert stop(sync) == 0
        with Session(engine) as s, s.begin():
            lost = s.scalars(select(Reading).where(Reading.station_id == station)).first()
            assert lost is not None
            s.execute(delete(Reading).where(Reading.uuid == lost.uuid))
            lost_day = lost.measured_at.astimezone(UTC).date()
        with running(spawn(d.kiosk, "sync", "run", notify=notify)) as sync:  # reports at start
            assert notify.wait_for("STATUS=connected to", 15)
            assert wait_until(lambda: _acknowledged(engine) == 30, 20)
            assert stop(sync) == 0
        assert ing.poll() is None
        assert stop(ing) == 0
    rows = _rows(engine)
    assert sum(r.held for r in rows) == 30 and sum(r.acknowledged for r in rows) == 30
    assert [(r.day, r.held - r.stored) for r in rows if r.differs] == [(lost_day, 1)]
    with Session(engine) as s, s.begin():
        add_user(s, username="admin", password=PASSWORD, role="admin", now=datetime.now(UTC))
    app = create_app(engine, load_rules(), WebSettings(secret_key="c" * 64), run_refresher=False)
    with TestClient(app, base_url="http://testserver") as c:
        login(c, "admin")
        page = _text(c.get("/admin/fleet", params={"alert": "counts"}).text)
        bad = next(r for r in rows if r.differs)
        words = (
            f"{lost_day:%Y-%m-%d} (UTC): the station holds {bad.held}, "
            f"{bad.acknowledged} acknowledged, {bad.stored} stored here"
        )
        assert station in page and words in page
        assert words in _text(c.get(f"/admin/fleet/{station}").text)
    engine.dispose()
