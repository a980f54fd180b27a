"""Correcting a saved follow-up record, through the real app on SQLite and PostgreSQL: the
form opens with the saved values, a correction is the record's next version (the earlier
ones kept, who, when, which fields), audited; the print, the exports and the resident's
history show the current version; the list's next follow-up follows the correction; a
correction made meanwhile by someone else is never overwritten unseen."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from followup.db.audit import AuditEvent
from followup.db.records import FollowUpRecord, FollowUpRecordVersion
from followup.db.reviews import Review
from followup.db.status import ResidentStatusRow
from tests.followup.web.test_records import _form, _post
from tests.support.web import World, csrf

VALUE = re.compile(r'name="(\w+)" value="([^"]*)"')


def _saved(doctor: TestClient, world: World) -> int:
    r = _post(doctor, world.urgent_id, "hypertension", _form(world))
    assert r.status_code == 303, r.text
    return int(r.headers["location"].split("/")[2])


def _edit_values(doctor: TestClient, record_id: int) -> dict[str, str]:
    page = doctor.get(f"/records/{record_id}/edit")
    assert page.status_code == 200, page.text
    return dict(VALUE.findall(page.text))


class _Form(HTMLParser):
    """What a browser sends back from the page's record form, untouched."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.data: list[tuple[str, str]] = []
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and a.get("name"):
            if a.get("type") in ("radio", "checkbox") and "checked" not in a:
                return
            self.data.append((a["name"], a.get("value", "")))
        elif tag == "textarea":
            self._textarea = a["name"]
            self.data.append((a["name"], ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.data[-1] = (self._textarea, self.data[-1][1] + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None


def _correct(doctor: TestClient, record_id: int, **changes: Any) -> Any:
    """The correction form as the browser would send it back, with ``changes``."""
    parser = _Form()
    parser.feed(doctor.get(f"/records/{record_id}/edit").text)
    data: dict[str, Any] = {}
    for name, value in parser.data:
        if name == "symptoms":
            data.setdefault(name, []).append(value)
        else:
            data[name] = value
    data.update(changes)
    return doctor.post(f"/records/{record_id}/edit", data=data, follow_redirects=False)


def test_the_correction_form_opens_with_the_saved_values(doctor: TestClient, world: World) -> None:
    rid = _saved(doctor, world)
    page = doctor.get(f"/records/{rid}/edit")
    assert page.status_code == 200
    values = dict(VALUE.findall(page.text))
    assert values["version"] == "1"
    assert values["systolic_mmhg"] == "150" and values["medicine_1_name"] == "硝苯地平控释片"
    assert values["medicine_1_mg"] == "30"
    assert values["next_visit_on"] == (world.now.date() + timedelta(days=14)).isoformat()
    assert 'name="symptoms" value="numb_limbs" checked' in page.text
    assert 'name="salt" value="heavy" checked' in page.text
    assert f'action="/records/{rid}/edit"' in page.text
    assert 'id="prefill"' not in page.text and "seen_until" not in page.text
    assert "Save the correction" in page.text and "every earlier version is kept" in page.text


def test_a_correction_is_the_next_version_and_everything_shows_it(
    doctor: TestClient, world: World
) -> None:
    rid = _saved(doctor, world)
    later = (world.now.date() + timedelta(days=30)).isoformat()
    r = _correct(doctor, rid, next_visit_on=later, medicine_1_mg="60")
    assert r.status_code == 303 and r.headers["location"] == f"/records/{rid}/print"
    printed = doctor.get(f"/records/{rid}/print")
    assert "Follow-up record of Zhang Wei corrected." in printed.text
    assert 'id="p-corrected"' in printed.text and "(version 2)" in printed.text
    assert re.search(r'class="medicine">硝苯地平控释片.*?mg each time 60<', printed.text)
    history = re.search(r'<table id="version-history">.*?</table>', printed.text, re.S)
    assert history and "Medicine 1: mg each time, Next visit date" in history.group(0)
    with Session(world.engine) as s:
        rec = s.get(FollowUpRecord, rid)
        assert rec is not None and rec.version == 2 and rec.updated_by == world.doctor_id
        assert rec.next_visit_on.isoformat() == later and rec.form.medicines[0].mg_per_time == 60
        first, second = s.scalars(
            select(FollowUpRecordVersion)
            .where(FollowUpRecordVersion.record_id == rid)
            .order_by(FollowUpRecordVersion.version)
        ).all()
        assert first.form.medicines[0].mg_per_time == 30  # the earlier version is kept
        assert first.form.next_visit_on == world.now.date() + timedelta(days=14)
        assert second.changed == ["medicine_1_mg", "next_visit_on"]
        assert second.saved_by == world.doctor_id and second.saved_at == rec.updated_at
        # the review the record made (and so the list's next follow-up) follows it
        review = s.get(Review, rec.review_id)
        assert review is not None and review.next_follow_up_on.isoformat() == later  # type: ignore[union-attr]
        status = s.get(ResidentStatusRow, world.urgent_id)
        assert status is not None and status.due_on is not None
        assert status.due_on.isoformat() == later
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "followup_record_correct")
        ).one()
        assert event.user_id == world.doctor_id and event.target == f"resident:{world.urgent_id}"
        assert event.detail == {
            "record": rid,
            "kind": "hypertension",
            "version": 2,
            "changed": ["medicine_1_mg", "next_visit_on"],
        }
    # the resident's history says it was corrected, and when
    page = doctor.get(f"/residents/{world.urgent_id}").text
    row = re.search(rf'<tr data-record="{rid}">.*?</tr>', page, re.S)
    assert row and "Corrected 20" in row.group(0) and "(UTC+8)" in row.group(0)
    # the earlier version can still be read, marked as replaced
    old = doctor.get(f"/records/{rid}/print?version=1").text
    assert 'id="earlier-version"' in old and "version 2 replaced it" in old
    assert re.search(r'class="medicine">硝苯地平控释片.*?mg each time 30<', old)
    assert doctor.get(f"/records/{rid}/print?version=7").status_code == 404
    assert doctor.get(f"/records/{rid}/print?version=x").status_code == 404
    # the exports carry the current version
    rows = list(csv.DictReader(io.StringIO(doctor.get("/records.csv").text.lstrip("\ufeff"))))
    assert [(r["Medicine 1: mg each time"], r["Next visit date"]) for r in rows] == [
        ("60.0", later)
    ]
    assert rows[0]["Corrected by"] == "Dr Wang" and rows[0]["Corrected at"].endswith("(UTC+8)")
    ws = load_workbook(io.BytesIO(doctor.get("/records.xlsx").content)).worksheets[0]
    head, body = [[c.value for c in row] for row in ws.iter_rows()]
    book = dict(zip(head, body, strict=True))
    assert book["Medicine 1: mg each time"] == 60 and book["Next visit date"] == later


def test_saving_the_form_unchanged_saves_no_version(doctor: TestClient, world: World) -> None:
    rid = _saved(doctor, world)
    r = _correct(doctor, rid)
    assert r.status_code == 303
    assert "Nothing was changed" in doctor.get(r.headers["location"]).text
    with Session(world.engine) as s:
        assert s.get(FollowUpRecord, rid).version == 1  # type: ignore[union-attr]
        assert len(s.scalars(select(FollowUpRecordVersion)).all()) == 1
        assert not s.scalars(
            select(AuditEvent).where(AuditEvent.action == "followup_record_correct")
        ).all()


def test_a_bad_correction_is_refused_and_changes_nothing(doctor: TestClient, world: World) -> None:
    rid = _saved(doctor, world)
    r = _correct(doctor, rid, diastolic_mmhg="160", medicine_1_mg="60")
    assert r.status_code == 400 and "the diastolic must be below the systolic" in r.text
    assert 'name="medicine_1_mg" value="60"' in r.text  # what the doctor wrote is kept
    tomorrow = (world.now + timedelta(days=2)).date().isoformat()
    r = _correct(doctor, rid, visit_date=tomorrow)
    assert r.status_code == 400 and "Visit date: must not be in the future" in r.text
    r = _correct(doctor, rid, version="x")
    assert r.status_code == 400
    with Session(world.engine) as s:
        rec = s.get(FollowUpRecord, rid)
        assert rec is not None and rec.version == 1 and rec.form.medicines[0].mg_per_time == 30
    assert doctor.get("/records/999999/edit").status_code == 404


def test_a_correction_made_meanwhile_is_not_overwritten(doctor: TestClient, world: World) -> None:
    rid = _saved(doctor, world)
    stale = _edit_values(doctor, rid)["version"]
    assert _correct(doctor, rid, medicine_1_mg="60").status_code == 303
    # a second form opened before that correction, sent after it
    r = _correct(doctor, rid, version=stale, medicine_1_mg="90")
    assert r.status_code == 409 and "Someone saved a correction" in r.text
    assert 'name="version" value="2"' in r.text and 'name="medicine_1_mg" value="60"' in r.text
    with Session(world.engine) as s:
        rec = s.get(FollowUpRecord, rid)
        assert rec is not None and rec.version == 2 and rec.form.medicines[0].mg_per_time == 60


def test_only_a_signed_in_doctor_with_the_forms_token_corrects(
    client: TestClient, world: World
) -> None:
    from tests.support.web import login

    login(client, "dr.wang")
    rid = _saved(client, world)
    data = {**_edit_values(client, rid), "medicine_1_mg": "60"}
    token = data.pop("csrf")
    for forged in ({}, {"csrf": "forged-token-forged-token-forged-token"}):
        r = client.post(f"/records/{rid}/edit", data={**data, **forged}, follow_redirects=False)
        assert r.status_code == 403
    client.cookies.clear()
    r = client.post(f"/records/{rid}/edit", data={**data, "csrf": token}, follow_redirects=False)
    assert r.status_code == 401
    assert client.get(f"/records/{rid}/edit", follow_redirects=False).status_code == 303
    login(client, "admin")
    admin_token = csrf(client, "/admin")
    r = client.post(f"/records/{rid}/edit", data={**data, "csrf": admin_token})
    assert r.status_code == 403 and "硝苯地平" not in r.text
    assert client.get(f"/records/{rid}/edit").status_code == 403
    with Session(world.engine) as s:
        rec = s.get(FollowUpRecord, rid)
        assert rec is not None and rec.version == 1 and rec.form.medicines[0].mg_per_time == 30
