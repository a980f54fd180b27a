"""Calls for staff (``hk.help/1``, issue 16) through a real Mosquitto (the
deployment's ACL) into the follow-up database by the real ingest process:
one row per call, kept until acknowledged, the first acknowledgement wins."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.db.fleet import HelpCallRow
from followup.db.models import DeadLetter
from followup.fleet.reports import FleetStore, Rejection, check_report
from healthkiosk.mqtt import connect
from sync.schema import HelpCall, encode, topic
from tests.support.reportkit import followup_config, ingest_process, station_settings, wait_until
from tests.support.synckit import Mosquitto

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _call(station: str = "st-a", n: int = 1, **changes: object) -> HelpCall:
    return HelpCall.model_validate(
        {
            "schema": "hk.help/1",
            "station_id": station,
            "id": str(uuid.UUID(int=n)),
            "reason": "urgent_result",
            "screen": "result",
            "detail": "blood_pressure:grade_3",
            "called_at": AT.isoformat(),
            **changes,
        }
    )


def _rows(engine: object) -> dict[str, HelpCallRow]:
    with Session(engine) as s:  # type: ignore[call-overload]
        return {r.id: r for r in s.scalars(select(HelpCallRow))}


def test_check_report_takes_help_calls_on_their_own_leaf() -> None:
    good = encode(_call())
    assert isinstance(check_report("hk/v1/st/st-a/help", good), HelpCall)
    wrong = check_report("hk/v1/st/st-b/help", good)
    assert isinstance(wrong, Rejection) and wrong.reason.startswith("wrong_station")
    bad = check_report("hk/v1/st/st-a/help", b'{"schema":"hk.help/1","station_id":"st-a"}')
    assert isinstance(bad, Rejection) and bad.reason.startswith("invalid")


async def test_help_calls_stored_once_and_acknowledged_at_the_station(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker", ["st-a", "st-b"])
    broker.start()
    url = f"sqlite:///{tmp_path / 'followup.sqlite'}"
    engine = make_engine(url)
    config = followup_config(tmp_path, broker, url)
    log = tmp_path / "ingest.log"
    acked = _call(
        acknowledged_at=(AT + timedelta(minutes=1)).isoformat(),
        acknowledged_by="technician",
        acknowledged_where="station",
    )
    staff = _call(n=2, reason="staff_call", screen="error", detail="device_not_found")
    try:
        with ingest_process(config, log) as poll:
            async with connect(station_settings(broker, "st-a")) as a:
                await a.publish(topic("st-a", "help"), encode(_call()), timeout=5)
                await a.publish(topic("st-a", "help"), encode(_call()), timeout=5)  # again
                await a.publish(topic("st-a", "help"), encode(staff), timeout=5)
                wait_until(lambda: len(_rows(engine)) == 2, 20, "two calls")
                rows = _rows(engine)
                assert rows[str(uuid.UUID(int=1))].acknowledged_at is None
                await a.publish(topic("st-a", "help"), encode(acked), timeout=5)
                await a.publish(topic("st-a", "help"), b"not json", timeout=5)
            async with connect(station_settings(broker, "st-b")) as b:
                # st-b cannot acknowledge (or take over) st-a's call
                await b.publish(
                    topic("st-b", "help"), encode(acked.model_copy(update={"station_id": "st-b"})),
                    timeout=5,
                )  # fmt: skip
            wait_until(
                lambda: _rows(engine)[str(uuid.UUID(int=1))].acknowledged_at is not None,
                20,
                "the acknowledgement",
            )
            with Session(engine) as s:
                wait_until(
                    lambda: (s.scalar(select(func.count()).select_from(DeadLetter)) or 0) >= 2,
                    20,
                    "dead letters",
                )
            assert poll() is None, "the ingest worker died"
    finally:
        broker.stop()
    rows = _rows(engine)
    first, second = rows[str(uuid.UUID(int=1))], rows[str(uuid.UUID(int=2))]
    assert (first.station_id, first.reason, first.screen) == ("st-a", "urgent_result", "result")
    assert first.acknowledged_where == "station" and first.acknowledged_by == "technician"
    assert first.station_knows_at is not None
    assert (second.reason, second.screen, second.detail) == (
        "staff_call", "error", "device_not_found"
    )  # fmt: skip
    assert second.acknowledged_at is None
    with Session(engine) as s:
        reasons = sorted(d.reason.split(":")[0] for d in s.scalars(select(DeadLetter)))
    assert reasons == ["not_json", "wrong_station"]
    engine.dispose()


def test_the_first_acknowledgement_wins(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'f.sqlite'}")
    store = FleetStore(engine)
    assert store.apply(_call(), received_at=AT) is True
    with Session(engine) as s, s.begin():  # acknowledged on the web first
        row = s.get(HelpCallRow, str(uuid.UUID(int=1)))
        assert row is not None
        row.acknowledged_at, row.acknowledged_by, row.acknowledged_where = AT, "dr-li", "web"
    late = _call(
        acknowledged_at=(AT + timedelta(minutes=3)).isoformat(),
        acknowledged_by="dr-li",
        acknowledged_where="web",
    )
    assert store.apply(late, received_at=AT + timedelta(minutes=4)) is True  # the station has it
    assert store.apply(late, received_at=AT + timedelta(minutes=5)) is False
    row = _rows(engine)[str(uuid.UUID(int=1))]
    assert row.acknowledged_at == AT and row.acknowledged_where == "web"
    assert row.station_knows_at == AT + timedelta(minutes=4)
    engine.dispose()
