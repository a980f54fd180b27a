"""The follow-up app's behaviour: list order and filters, reviews, reveal, exports, alerts."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from followup.alerts.urgent import ALERT_TOPIC
from followup.db.alerts import Alert
from followup.db.audit import AuditEvent
from followup.db.models import Reading, Resident
from followup.db.reviews import Review
from followup.db.status import ResidentStatusRow
from followup.db.status_store import refresh_residents
from followup.web.app import refresh_once
from followup.web.common import AppState, WebSettings, make_templates
from healthkiosk.rules import load_rules
from tests.support.followup_data import add_reading, add_resident
from tests.support.web import (
    DISTRICT,
    World,
    csrf,
    district_day,
)


def _sections(page: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in re.finditer(r'<section id="section-(\w+)">(.*?)</section>', page, re.S):
        out[m.group(1)] = re.findall(r'data-resident="(\d+)"', m.group(2))
    return out


def _actions(world: World, action: str) -> list[AuditEvent]:
    with Session(world.engine) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _review(c: TestClient, rid: int, **fields: str) -> Any:
    page = c.get(f"/residents/{rid}").text
    seen = re.search(r'name="seen_until" value="([^"]*)"', page)
    data = {
        "csrf": csrf(c, f"/residents/{rid}"),
        "method": "phone",
        "seen_until": seen.group(1) if seen else "",
        **fields,
    }
    return c.post(f"/residents/{rid}/reviews", data=data, follow_redirects=False)


def test_list_orders_urgent_abnormal_overdue_with_counts(doctor: TestClient, world: World) -> None:
    page = doctor.get("/list").text
    s = _sections(page)
    assert s["urgent"] == [str(world.urgent_id)]
    assert s["abnormal"] == [str(world.abnormal_id)]
    assert s["overdue"] == [str(world.overdue_id)]
    assert s["overdue_long"] == []
    assert (
        page.index("section-urgent")
        < page.index("section-abnormal")
        < page.index("section-overdue")
    )
    assert "BP 186/104 mmHg" in page and "60 min ago" in page
    assert "Zhang Wei" in page and "13800000000" in page and "Village A" in page
    # days overdue: last reading 120 days ago, interval 90 days
    assert re.search(r"<td>30</td>", page)
    counts = dict(re.findall(r'data-section="(\w+)">[^<]*<strong>(\d+)</strong>', page))
    assert counts == {"urgent": "1", "abnormal": "1", "overdue": "1", "overdue_long": "0"}


def test_filters(doctor: TestClient, world: World) -> None:
    def ids(**q: str) -> dict[str, list[str]]:
        return _sections(doctor.get("/list", params=q).text)

    assert ids(station="st-002") == {
        "urgent": [],
        "abnormal": [str(world.abnormal_id)],
        "overdue": [],
        "overdue_long": [],
    }
    assert ids(kind="glucose")["urgent"] == [] and ids(kind="glucose")["overdue"] == [
        str(world.overdue_id)
    ]
    assert list(ids(status="urgent")) == ["urgent"]
    assert list(ids(status="overdue")) == ["overdue", "overdue_long"]
    today = world.now.date()
    assert ids(**{"from": today.isoformat()})["abnormal"] == []
    assert ids(**{"from": (today - timedelta(days=2)).isoformat()})["abnormal"] == [
        str(world.abnormal_id)
    ]
    assert ids(doctor=str(world.doctor_id))["urgent"] == []
    assert ids(doctor="none")["urgent"] == [str(world.urgent_id)]
    r = doctor.get("/list", params={"kind": "bogus", "from": "yesterday"})
    assert r.status_code == 200 and "not a date" in r.text


def test_review_removes_the_reading_and_a_missed_date_puts_back(
    doctor: TestClient, world: World
) -> None:
    rid = world.urgent_id
    r = _review(
        doctor,
        rid,
        outcome="agreed_to_visit",
        note="will come Monday",
        next_follow_up_on=(world.now.date() + timedelta(days=3)).isoformat(),
    )
    assert r.status_code == 303 and r.headers["location"] == "/list"
    page = doctor.get("/list").text
    assert "Review saved for Zhang Wei" in page
    assert str(rid) not in _sections(page)["urgent"]
    with Session(world.engine) as s:
        assert s.scalar(select(Reading.reviewed_at).where(Reading.resident_id == rid))
        rev = s.scalar(select(Review).where(Review.resident_id == rid))
        assert rev is not None and rev.outcome == "agreed_to_visit" and len(rev.readings) == 1
        a = s.get(Alert, rev.readings[0])
    assert len(_actions(world, "review")) == 1
    # the call history on the resident page
    page = doctor.get(f"/residents/{rid}").text
    assert "will come Monday" in page and "Contacted: agreed to come" in page
    # the next follow-up date passes with no contact: back on the list (overdue)
    rules = load_rules()
    with Session(world.engine) as s, s.begin():
        refresh_residents(s, [rid], rules=rules, now=world.now + timedelta(days=4), tz=DISTRICT)
        row = s.get(ResidentStatusRow, rid)
        assert row is not None and row.level == 0
        assert row.due_on == world.now.date() + timedelta(days=3)
    # the review acknowledged the urgent reading's alert
    assert a is not None and a.acknowledged_at is not None and a.acknowledged_by == world.doctor_id


def test_remind_later_and_remove_with_reason(doctor: TestClient, world: World) -> None:
    rid = world.abnormal_id
    r = _review(doctor, rid, outcome="remind_later", remind_days="14")
    assert r.status_code == 303
    with Session(world.engine) as s:
        rev = s.scalar(select(Review).where(Review.resident_id == rid))
        assert rev is not None
        assert rev.next_follow_up_on == district_day(world.now) + timedelta(days=14)
    r = _review(doctor, world.overdue_id, outcome="removed")
    assert r.status_code == 400 and "choose a reason" in r.text
    r = _review(doctor, world.overdue_id, outcome="removed", remove_reason="moved")
    assert r.status_code == 303
    assert str(world.overdue_id) not in _sections(doctor.get("/list").text)["overdue"]
    r = _review(doctor, rid, outcome="agreed_to_visit", next_follow_up_on="2001-01-01")
    assert r.status_code == 400 and "past" in r.text


def test_default_next_follow_up_from_rules(doctor: TestClient, world: World) -> None:
    page = doctor.get(f"/residents/{world.overdue_id}").text
    default = district_day(world.now) + timedelta(days=load_rules().followup.next_follow_up_days)
    assert f'name="next_follow_up_on" value="{default.isoformat()}"' in page


def test_review_does_not_cover_a_reading_that_arrived_after_the_page(
    doctor: TestClient, world: World
) -> None:
    rid = world.urgent_id
    page = doctor.get(f"/residents/{rid}").text
    seen = re.search(r'name="seen_until" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
    with Session(world.engine) as s, s.begin():
        res = s.get(Resident, rid)
        assert res is not None
        late = add_reading(
            s,
            res,
            measured_at=world.now,
            systolic=190,
            diastolic=100,
            received_at=datetime.now(UTC) + timedelta(seconds=5),
        )
        late_uuid = late.uuid
    doctor.post(
        f"/residents/{rid}/reviews",
        data={
            "csrf": csrf(doctor, "/list"),
            "outcome": "referred",
            "method": "phone",
            "seen_until": seen,
        },
    )
    with Session(world.engine) as s:
        assert s.get(Reading, late_uuid).reviewed_at is None  # type: ignore[union-attr]


def test_id_masked_until_revealed_and_audited(doctor: TestClient, world: World) -> None:
    rid = world.urgent_id
    with Session(world.engine) as s:
        res = s.get(Resident, rid)
        assert res is not None
        full, masked = res.id_number, res.id_masked
    page = doctor.get(f"/residents/{rid}").text
    assert masked in page and full not in page
    assert full not in doctor.get("/list").text and full not in doctor.get("/list.csv").text
    r = doctor.post(f"/residents/{rid}/reveal", data={"csrf": csrf(doctor, "/list")})
    assert r.status_code == 200 and full in r.text
    ev = _actions(world, "reveal_id")
    assert (
        len(ev) == 1 and ev[0].target == f"resident:{rid}" and full not in json.dumps(ev[0].detail)
    )
    assert full not in doctor.get(f"/residents/{rid}").text


def test_doctor_edits_contact_programmes_and_doctor(doctor: TestClient, world: World) -> None:
    rid = world.abnormal_id
    r = doctor.post(
        f"/residents/{rid}/edit",
        data={
            "csrf": csrf(doctor, "/list"),
            "phone": "021-5555",
            "address": "1 Road",
            "area": "Village B",
            "diabetes": "on",
            "responsible_doctor": str(world.doctor_id),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    with Session(world.engine) as s:
        res = s.get(Resident, rid)
        assert res is not None and res.phone == "021-5555" and res.diabetes_programme
        assert res.responsible_doctor_id == world.doctor_id
    ev = _actions(world, "resident_edit")
    assert set(ev[0].detail["fields"]) >= {"phone", "diabetes_programme", "responsible_doctor_id"}
    r = doctor.post(
        f"/residents/{rid}/edit", data={"csrf": csrf(doctor, "/list"), "responsible_doctor": "999"}
    )
    assert r.status_code == 400


def test_resident_page_readings_chart_and_404(doctor: TestClient, world: World) -> None:
    page = doctor.get(f"/residents/{world.urgent_id}").text
    assert "186/104 mmHg" in page and "<svg" in page and "Blood pressure trend" in page
    assert "systolic grade_1 from 140 mmHg" in page  # threshold bands from the rules
    assert "glucose" in doctor.get(f"/residents/{world.abnormal_id}").text
    assert doctor.get("/residents/99999").status_code == 404


def test_readings_of_one_instant_in_one_order_on_both_databases(
    doctor: TestClient, world: World
) -> None:
    """Readings measured at the same second are listed newest-stored first on the page and
    oldest first in the FHIR export, whatever order the database gives ties in (PostgreSQL:
    a reviewed row's new version sorts last among equal keys; SQLite: by rowid)."""
    at = (world.now - timedelta(minutes=30)).replace(microsecond=0)
    with Session(world.engine) as s, s.begin():
        res = s.get(Resident, world.abnormal_id)
        assert res is not None
        first, *_ = [
            add_reading(s, res, measured_at=at, glucose=value, meal="fasting").uuid
            for value in (6.1, 9.9, 8.3)
        ]
    with Session(world.engine) as s, s.begin():  # a review: PostgreSQL moves the row
        s.execute(update(Reading).where(Reading.uuid == first).values(reviewed_at=world.now))
    page = doctor.get(f"/residents/{world.abnormal_id}").text
    table = page[page.index('<section id="readings">') :]
    shown = [float(v) for v in re.findall(r"glucose (\d+\.\d) mmol/L", table)]
    assert shown[:3] == [8.3, 9.9, 6.1], shown
    bundle = doctor.get(f"/residents/{world.abnormal_id}/fhir.json").json()
    values = [
        e["resource"]["valueQuantity"]["value"]
        for e in bundle["entry"]
        if "valueQuantity" in e["resource"]
    ]
    assert values[-3:] == [6.1, 9.9, 8.3], values


def test_csv_export_and_print_page(doctor: TestClient, world: World) -> None:
    r = doctor.get("/list.csv")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert [row["section"] for row in rows] == ["urgent", "abnormal", "overdue"]
    assert rows[0]["name"] == "Zhang Wei" and rows[0]["reading"] == "BP 186/104 mmHg"
    assert rows[2]["days_overdue"] == "30"
    assert len(_actions(world, "export_csv")) == 1
    page = doctor.get("/list/print").text
    assert "Follow-up calls" in page and "Zhang Wei" in page
    assert len(_actions(world, "print_list")) == 1


def test_fhir_bundle_is_valid_r4_with_loinc_codes(doctor: TestClient, world: World) -> None:
    from fhir.resources.R4B.bundle import Bundle

    with Session(world.engine) as s, s.begin():
        res = s.get(Resident, world.urgent_id)
        assert res is not None
        add_reading(s, res, measured_at=world.now, glucose=6.2, meal="fasting")
        add_reading(s, res, measured_at=world.now, glucose=9.0, meal="after_meal")
    r = doctor.get(f"/residents/{world.urgent_id}/fhir.json")
    assert r.headers["content-type"].startswith("application/fhir+json")
    data = r.json()
    Bundle.model_validate(data)
    obs = [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "Observation"]
    codes = [o["code"]["coding"][0]["code"] for o in obs]
    assert codes.count("85354-9") == 1 and "8867-4" in codes
    assert "14770-2" in codes and "14743-9" in codes
    bp = next(o for o in obs if o["code"]["coding"][0]["code"] == "85354-9")
    comp = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in bp["component"]}
    assert comp["8480-6"] == {
        "value": 186,
        "unit": "mmHg",
        "system": "http://unitsofmeasure.org",
        "code": "mm[Hg]",
    }
    assert comp["8462-4"]["value"] == 104
    with Session(world.engine) as s:
        uuid = s.scalar(select(Reading.uuid).where(Reading.systolic_mmhg == 186))
    assert bp["identifier"][0]["value"] == f"urn:uuid:{uuid}"
    assert bp["device"]["reference"].startswith("urn:uuid:")
    assert any(p["reference"] for p in bp["performer"])
    glu = next(o for o in obs if o["code"]["coding"][0]["code"] == "14770-2")
    assert glu["valueQuantity"]["code"] == "mmol/L" and glu["valueQuantity"]["value"] == 6.2
    kinds = {e["resource"]["resourceType"] for e in data["entry"]}
    assert {"Patient", "Organization", "Device"} <= kinds
    with Session(world.engine) as s:
        full = s.get(Resident, world.urgent_id).id_number  # type: ignore[union-attr]
    assert full not in r.text
    assert len(_actions(world, "export_fhir")) == 1


# --- alerts: a real Mosquitto and a local webhook --------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[int]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(
        [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class _Hook(BaseHTTPRequestHandler):
    bodies: list[bytes] = []  # noqa: RUF012

    def do_POST(self) -> None:
        n = int(self.headers["Content-Length"])
        type(self).bodies.append(self.rfile.read(n))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_urgent_reading_raises_one_alert_on_mqtt_and_webhook(world: World, mosquitto: int) -> None:
    import paho.mqtt.client as mqtt

    from followup.alerts.publish import make_publisher
    from healthkiosk.config import MqttConfig

    got: list[bytes] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="alert-test")
    sub.on_message = lambda _c, _u, msg: got.append(msg.payload)
    sub.connect("127.0.0.1", mosquitto)
    sub.subscribe(ALERT_TOPIC, qos=1)
    sub.loop_start()
    hook = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.bodies = []
    t = threading.Thread(target=hook.serve_forever, daemon=True)
    t.start()
    try:
        time.sleep(0.3)
        hk = AppState(
            engine=world.engine,
            sessions=sessionmaker(world.engine, expire_on_commit=False),
            rules=load_rules(),
            settings=WebSettings(
                secret_key="k" * 40, webhook_url=f"http://127.0.0.1:{hook.server_port}/sms"
            ),
            templates=make_templates(),
            clock=lambda: datetime.now(UTC),
        )
        publish = make_publisher(MqttConfig(host="127.0.0.1", port=mosquitto), client_id="t-pub")
        assert asyncio.run(refresh_once(hk, publish)) == 1  # the fixture's urgent reading
        assert asyncio.run(refresh_once(hk, publish)) == 0  # idempotent
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(got) == 1
        msg = json.loads(got[0])
        assert msg["schema"] == "hk.alert/1" and msg["summary"] == "BP 186/104 mmHg"
        assert "Zhang" not in got[0].decode() and msg["resident_id"] == world.urgent_id
        assert [json.loads(b)["reading_uuid"] for b in _Hook.bodies] == [msg["reading_uuid"]]
        with Session(world.engine) as s:
            a = s.get(Alert, msg["reading_uuid"])
            assert a is not None and a.mqtt_published_at and a.webhook_status == "204"
    finally:
        sub.loop_stop()
        sub.disconnect()
        hook.shutdown()
        hook.server_close()


def test_acknowledgement_time_recorded_and_shown(doctor: TestClient, world: World) -> None:
    with Session(world.engine) as s:
        deadline = time.monotonic() + 15
        while s.scalar(select(Alert)) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert s.scalar(select(Alert)) is not None
    page = doctor.get("/list").text
    assert "waiting" in page and "Acknowledge" in page
    r = doctor.post(f"/residents/{world.urgent_id}/ack", data={"csrf": csrf(doctor, "/list")})
    assert r.status_code == 200
    assert "acknowledged after 60 min" in r.text
    with Session(world.engine) as s:
        a = s.scalar(select(Alert))
        assert a is not None and a.acknowledged_by == world.doctor_id
        assert 3500 < (a.seconds_to_acknowledge or 0) < 3700
    assert "Time to acknowledge" in doctor.get(f"/residents/{world.urgent_id}").text
    assert len(_actions(world, "alert_ack")) == 1


def test_an_old_urgent_backlog_still_raises_its_alert(doctor: TestClient, world: World) -> None:
    """Never dropped for its age alone (it was: "older than 24 h"); the alert
    payload marks it late (tests/followup/alerts/test_clock_and_age.py)."""
    with Session(world.engine) as s, s.begin():
        res = add_resident(s, name="Backlog")
        old = world.now - timedelta(days=3)
        add_reading(s, res, measured_at=old, received_at=datetime.now(UTC), glucose=2.5)
        rid = res.id
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with Session(world.engine) as s:
            if s.scalar(select(Alert).where(Alert.resident_id == rid)) is not None:
                break
        time.sleep(0.1)
    with Session(world.engine) as s:
        assert s.get(ResidentStatusRow, rid).level == 2  # type: ignore[union-attr]
        alert = s.scalar(select(Alert).where(Alert.resident_id == rid))
        assert alert is not None and alert.measured_at == old


def test_user_add_cli(tmp_path: Path) -> None:
    import sys

    root = Path(__file__).resolve().parents[3]
    url = f"sqlite:///{tmp_path / 'f.sqlite'}"
    cmd = [
        sys.executable,
        "-m",
        "healthkiosk",
        "followup",
        "user",
        "add",
        "dr.zhao",
        "--role",
        "doctor",
        "--password-stdin",
        "--database-url",
        url,
    ]
    r = subprocess.run(
        cmd,
        input="a long password\n",
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "created doctor 'dr.zhao'" in r.stdout
    r = subprocess.run(
        cmd,
        input="a long password\n",
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2 and "exists" in r.stderr
    r = subprocess.run(
        [*cmd[:6], "dr.x", *cmd[7:]],
        input="short\n",
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2 and "at least 10" in r.stderr
    from sqlalchemy.orm import sessionmaker

    from followup.db.engine import make_engine
    from followup.web.accounts import check_login

    engine = make_engine(url)
    result = check_login(
        sessionmaker(engine), username="dr.zhao", password="a long password", now=datetime.now(UTC)
    )
    assert result.user is not None and result.user.role == "doctor" and result.reason == "ok"
    with Session(engine) as s:
        assert s.scalar(select(AuditEvent.action)) == "user_add"
    engine.dispose()
