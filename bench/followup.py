"""Follow-up list benchmark: generate residents and readings, time the list, a resident page
and the hypertension follow-up record form (pre-filled from the readings).

    python bench/followup.py sqlite:///tmp/bench.sqlite --residents 2000 --readings 40000
    python bench/followup.py postgresql+psycopg://postgres@127.0.0.1:5432/hk_bench \\
        --residents 100000 --readings 5000000

Prints p50/p95 in-process server time (ASGI request to response, no network) of the
follow-up list (the bench doctor's own residents, then everyone's), a resident's page,
the hypertension follow-up record form, the dashboard (the doctor's, then an area's),
the residents behind a dashboard figure and the whole district's dashboard (fewer
requests: it has no target), with the load average before and after. Residents are
spread over one doctor per 2,000 (as a district staffs them); the bench doctor is one
of them. With ``--browser`` it then prints the browser's first
contentful paint of the list (Debian's Chromium through Playwright, a real server).
With ``--ingest`` it then prints the ingest throughput with two workers on the
shared subscription, from ``bench/city.py`` (100 stations, a burst of 100
readings each, a fresh database on the same server; on SQLite, a SQLite file).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import JSON, Engine, Table, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from starlette.testclient import TestClient

from followup.db.alerts import Alert
from followup.db.engine import make_engine
from followup.db.models import Reading, Resident, Station
from followup.db.reviews import FOLLOWUP_DONE, NO_ANSWER, Review
from followup.db.status_store import refresh_residents
from followup.web.accounts import add_user
from followup.web.app import create_app
from followup.web.common import WebSettings
from followup.web.i18n import DEFAULT_TIMEZONE, load_zone
from healthkiosk.rules import load_rules

CHUNK = 20_000
PER_DOCTOR = 2_000


def _write(engine: Engine, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys): PostgreSQL's COPY through psycopg (about
    ten times an executemany), else an ordinary insert."""
    if not rows:
        return
    if engine.dialect.name != "postgresql":
        with engine.begin() as c:
            c.execute(insert(table), rows)
        return
    cols = list(rows[0])
    json_cols = {c.name for c in table.columns if isinstance(c.type, JSON)}
    defaults = {  # what the ORM's insert would fill in (COPY knows only the server's)
        c.name: c.default.arg
        for c in table.columns
        if c.name not in cols and isinstance(c.default, ScalarElementColumnDefault)
    }
    cols += defaults
    with engine.begin() as c:
        cur = c.connection.driver_connection.cursor()  # type: ignore[union-attr]
        names = ", ".join(f'"{n}"' for n in cols)
        with cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                full = {**defaults, **row}
                copy.write_row([json.dumps(full[k]) if k in json_cols else full[k] for k in cols])


def _enrolled_on(rng: random.Random, today: date) -> date:
    """A roster's enrolment date: mostly years ago, about one in ten this year."""
    if rng.random() < 0.1:
        return today - timedelta(days=rng.randint(0, today.timetuple().tm_yday - 1))
    return today - timedelta(days=rng.randint(366, 10 * 365))


def generate(url: str, residents: int, readings: int, seed: int) -> None:
    rng = random.Random(seed)
    engine = make_engine(url)
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    with engine.begin() as c:
        c.execute(
            insert(Station),
            [
                {
                    "id": f"st-{i:03d}",
                    "name": f"Station {i}",
                    "area": "A",
                    "group": "default",
                    "online": True,
                }
                for i in range(20)
            ],
        )
    doctors = max(1, residents // PER_DOCTOR)
    with Session(engine) as s, s.begin():
        ids = [
            add_user(
                s,
                username="bench" if k == 0 else f"doctor{k}",
                password="bench password",
                role="doctor",
                now=now,
            ).id
            for k in range(doctors)
        ]
    rows = []
    for i in range(1, residents + 1):
        ht, dm = i % 3 == 0, i % 5 == 0
        rows.append(
            {
                "id": i,
                "id_hash": f"{i:064x}",
                "id_number": f"110101{i:012d}",
                "id_masked": "110*******" + f"{i:08d}"[-4:],
                "name": f"Resident {i}",
                "sex": "female",
                "birth_date": date(1940 + i % 50, 1 + i % 12, 1),
                "phone": "138",
                "area": f"Village {i % 50}",
                "hypertension_programme": ht,
                "diabetes_programme": dm,
                "hypertension_enrolled_on": _enrolled_on(rng, now.date()) if ht else None,
                "diabetes_enrolled_on": _enrolled_on(rng, now.date()) if dm else None,
                "home_station_id": f"st-{i % 20:03d}",
                "responsible_doctor_id": ids[min((i - 1) // PER_DOCTOR, doctors - 1)],
                "created_at": now - timedelta(days=3 * 365),
                "updated_at": now,
            }
        )
        if len(rows) >= CHUNK:
            _write(engine, Resident.__table__, rows)
            rows = []
    _write(engine, Resident.__table__, rows)
    batch = []
    alerts: list[dict[str, object]] = []
    for n in range(readings):
        rid = rng.randint(1, residents)
        at = now - timedelta(minutes=rng.randint(1, 3 * 365 * 24 * 60))
        bp = rng.random() < 0.7
        s_, d_ = rng.randint(95, 190), rng.randint(55, 115)
        batch.append(
            {
                "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                "station_id": f"st-{rid % 20:03d}",
                "station_seq": n,
                "resident_id": rid,
                "kind": "blood_pressure" if bp else "glucose",
                "measured_at": at,
                "received_at": at,
                "systolic_mmhg": max(s_, d_ + 10) if bp else None,
                "diastolic_mmhg": d_ if bp else None,
                "pulse_bpm": 70 if bp else None,
                "glucose_mmol_per_l": None if bp else round(rng.uniform(3.0, 20.0), 1),
                "meal_context": None if bp else rng.choice(["fasting", "random"]),
                "device_model": "bench",
                "device_serial": "",
                "category": "normal",
                "urgent": False,
                "software_version": "bench",
                "payload": {},
                "reviewed_at": at if rng.random() < 0.9 else None,
            }
        )
        urgent = bp and (s_ >= 180 or d_ >= 110)
        if urgent and at > now - timedelta(days=365) and rng.random() < 0.1:
            acked = rng.random() < 0.95
            alerts.append(
                {
                    "reading_uuid": batch[-1]["uuid"],
                    "resident_id": rid,
                    "measured_at": at,
                    "raised_at": at,
                    "acknowledged_at": at + timedelta(minutes=rng.randint(1, 600))
                    if acked
                    else None,
                    "acknowledged_by": ids[min((rid - 1) // PER_DOCTOR, doctors - 1)]
                    if acked
                    else None,
                }
            )
        if len(batch) >= CHUNK:
            _write(engine, Reading.__table__, batch)
            batch = []
    _write(engine, Reading.__table__, batch)
    print(f"  readings written in {time.perf_counter() - t0:.0f} s", flush=True)
    for k in range(0, len(alerts), CHUNK):
        _write(engine, Alert.__table__, alerts[k : k + CHUNK])
    reviews = []
    outcomes = [*sorted(FOLLOWUP_DONE - {"followup_record"}), NO_ANSWER]
    for i in range(1, residents + 1):
        if not (i % 3 == 0 or i % 5 == 0):
            continue
        for _ in range(rng.randint(0, 5)):
            reviews.append(
                {
                    "resident_id": i,
                    "doctor_id": ids[min((i - 1) // PER_DOCTOR, doctors - 1)],
                    "created_at": now - timedelta(minutes=rng.randint(1, 500 * 24 * 60)),
                    "method": "phone",
                    "outcome": rng.choice(outcomes),
                    "note": "",
                    "readings": [],
                }
            )
        if len(reviews) >= CHUNK:
            _write(engine, Review.__table__, reviews)
            reviews = []
    _write(engine, Review.__table__, reviews)
    rules = load_rules()
    tz = load_zone(DEFAULT_TIMEZONE)  # the web app's default
    for i in range(1, residents + 1, 5000):
        with Session(engine) as s, s.begin():
            refresh_residents(
                s, range(i, min(i + 5000, residents + 1)), rules=rules, now=now, tz=tz
            )
    print(f"  statuses refreshed at {time.perf_counter() - t0:.0f} s", flush=True)
    if engine.dialect.name == "postgresql":
        # What autovacuum does soon after a bulk load: the planner's statistics and the
        # visibility map (index-only scans), so the first requests measure a settled table.
        with engine.connect() as c:
            c.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def measure(url: str, n: int) -> None:
    import re

    engine = make_engine(url, create=False)
    app = create_app(engine, load_rules(), WebSettings(secret_key="b" * 64), run_refresher=False)
    with TestClient(app) as c:
        tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
        c.post("/login", data={"username": "bench", "password": "bench password", "csrf": tok})
        with Session(engine) as s:
            ids = list(s.scalars(select(Resident.id).limit(2000)))
        pages: tuple[tuple[str, Callable[[], str]], ...] = (
            ("list", lambda: "/list"),
            ("list all", lambda: "/list?doctor=all"),
            ("resident", lambda: f"/residents/{random.choice(ids)}"),
            ("record", lambda: f"/residents/{random.choice(ids)}/records/hypertension/new"),
            ("dashboard", lambda: "/dashboard"),
            ("dash area", lambda: "/dashboard?doctor=all&area=Village+1"),
            ("dash figure", lambda: "/dashboard/residents?figure=bp_uncontrolled"),
            ("dash all", lambda: "/dashboard?doctor=all"),
        )
        for name, path in pages:
            times = []
            # The whole district's dashboard (no target: the targets are a doctor's and an
            # area's) takes seconds at full size: a tenth of the requests.
            for _ in range(max(3, n // 10) if name == "dash all" else n):
                t = time.perf_counter()
                r = c.get(path())
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200
            print(
                f"{name:11s} p50 {statistics.median(times):7.1f} ms"
                f"  p95 {pct(times, 95):7.1f} ms  (n={len(times)})"
            )
    engine.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("url")
    ap.add_argument("--residents", type=int, default=100_000)
    ap.add_argument("--readings", type=int, default=5_000_000)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-generate", action="store_true")
    ap.add_argument(
        "--ingest", action="store_true", help="also measure ingest throughput (bench/city.py)"
    )
    ap.add_argument(
        "--browser",
        action="store_true",
        help="also the list's first contentful paint in Chromium (Playwright)",
    )
    a = ap.parse_args()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    if not a.skip_generate:
        t = time.perf_counter()
        generate(a.url, a.residents, a.readings, a.seed)
        print(
            f"generated {a.residents} residents, {a.readings} readings in "
            f"{time.perf_counter() - t:.1f} s"
        )
    measure(a.url, a.requests)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    if a.browser:
        browser_fcp(a.url, a.requests)
    if a.ingest:
        return bench_ingest(a.url)
    return 0


def browser_fcp(url: str, n: int) -> None:
    """The list's first contentful paint in Debian's Chromium (a real server on loopback)."""
    import socket
    import threading

    import uvicorn
    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    engine = make_engine(url, create=False)
    app = create_app(engine, load_rules(), WebSettings(secret_key="b" * 64), run_refresher=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    fcp: list[float] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--headless", "--no-sandbox", "--disable-gpu"],
            )
            page = browser.new_page(locale="zh-CN")
            page.goto(f"{base}/login")
            page.fill("input[name=username]", "bench")
            page.fill("input[name=password]", "bench password")
            page.click("button[type=submit]")
            page.wait_for_load_state()
            for _ in range(max(3, n // 5)):
                page.goto(f"{base}/list")
                value = page.evaluate(
                    "() => { const e = performance.getEntriesByName('first-contentful-paint');"
                    " return e.length ? e[0].startTime : null; }"
                )
                if value is not None:
                    fcp.append(float(value))
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
    if fcp:
        print(
            f"{'list FCP':11s} p50 {statistics.median(fcp):7.1f} ms  p95 {pct(fcp, 95):7.1f} ms"
            f"  (n={len(fcp)}, Chromium, first contentful paint)"
        )
    else:
        print("list FCP    not reported by the browser")


def bench_ingest(url: str) -> int:
    """Two ingest workers on the shared subscription, through a real broker."""
    import subprocess

    from sqlalchemy.engine import make_url

    u = make_url(url)
    where = (
        ["--sqlite"]
        if u.get_backend_name() == "sqlite"
        else ["--database-url", u.set(database="postgres").render_as_string(hide_password=False)]
    )
    cmd = [sys.executable, str(Path(__file__).with_name("city.py")), "--stations", "100"]
    cmd += ["--readings", "0", "--burst", "100", "--workers", "2", *where]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith(("[burst]", "RESULT", "rows in database")):
            print(f"ingest    {line}")
    if out.returncode != 0:
        print(out.stderr[-2000:], file=sys.stderr)
    return out.returncode


if __name__ == "__main__":
    raise SystemExit(main())
