"""Fleet page benchmark: N stations with statuses and reports, time ``/admin/fleet``.

    python bench/fleet_page.py postgresql://postgres@127.0.0.1/fleet_bench --stations 1000
    python bench/fleet_page.py sqlite:////tmp/fleet-bench.sqlite --stations 5000

Each station gets a status with two devices, 3 configuration reports and 8
update steps; a tenth are offline, a tenth have a backlog over 100. Prints
p50/p95 in-process server time (ASGI request to response, no network) of the
fleet page's first page (50 stations, those needing attention first, with the
counts), a later page, the filters (one group, alerts only, one version, a
search) and one station's page. A filled database is reused when it has the
same number of stations.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from followup.db.engine import make_engine
from followup.db.fleet import StationConfigReport
from followup.db.models import Station, status_columns
from followup.fleet.reports import FleetStore
from followup.web.accounts import add_user
from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.rules import load_rules
from sync.schema import ConfigReport, StatusMessage, UpdateReport, to_dict

PASSWORD = "bench password 1"


def generate(url: str, stations: int, seed: int) -> None:
    rng = random.Random(seed)
    engine = make_engine(url)
    now = datetime.now(UTC)
    with Session(engine) as s:
        if s.scalar(select(func.count()).select_from(StationConfigReport)):
            have = s.scalar(select(func.count()).select_from(Station))
            if have != stations:
                raise SystemExit(f"the database already holds {have} stations, not {stations}")
            print("database already filled", file=sys.stderr)
            return
    rows = []
    for i in range(stations):
        sid = f"st-{i:05d}"
        offline = rng.random() < 0.1
        status = StatusMessage.model_validate({
            "schema": "hk.status/1", "station_id": sid, "online": not offline,
            "boot_id": "0000000001-aa", "seq": 5, "version": rng.choice(["0.4.0", "0.3.9"]),
            "config_version": 3, "backlog": rng.choice([0, 2, 150]) if rng.random() < 0.3 else 0,
            "disk_free_percent": rng.uniform(5, 80), "last_receipt": now,
            "devices": [
                {"role": "blood_pressure", "model": "Omron HEM-7361T", "connected": True,
                 "battery_percent": 80, "last_seen": now, "last_reading": now},
                {"role": "glucose", "model": "Sinocare GA-3", "connected": True,
                 "last_seen": now - timedelta(hours=rng.choice([1, 30]))},
            ],
        })  # fmt: skip
        rows.append({
            "id": sid, "group": f"g{i % 20:02d}", "name": f"Station {i}", "area": "",
            "online": not offline, "last_seen": now - timedelta(hours=3 if offline else 0),
            "status_boot_id": status.boot_id, "status_seq": status.seq, "status": to_dict(status),
            **status_columns(to_dict(status)),  # what Station.status sets (a bulk insert does not)
        })  # fmt: skip
    with Session(engine) as s, s.begin():
        s.execute(insert(Station), rows)
        add_user(s, username="admin", password=PASSWORD, role="admin", now=now)
    store = FleetStore(engine)
    for i in range(stations):
        sid = f"st-{i:05d}"
        for k in range(3):
            store.apply(
                ConfigReport(station_id=sid, outcome="applied", station_version=k + 1,
                             at=now - timedelta(hours=3 - k)),
                received_at=now,
            )  # fmt: skip
        for k in range(8):
            store.apply(
                UpdateReport(station_id=sid, release=7, step=f"step-{k}", outcome="in_progress",
                             at=now - timedelta(minutes=10 - k)),
                received_at=now,
            )  # fmt: skip
    engine.dispose()


def timed(client: TestClient, path: str, n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"{path}: HTTP {r.status_code}")
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--stations", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    t0 = time.perf_counter()
    generate(args.url, args.stations, args.seed)
    print(f"generated {args.stations} stations in {time.perf_counter() - t0:.1f} s")
    engine = make_engine(args.url)
    if engine.dialect.name == "postgresql":
        # As autovacuum would after the bulk load: plans from statistics, not guesses.
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    app = create_app(engine, load_rules(), WebSettings(secret_key="b" * 64), run_refresher=False)
    with TestClient(app) as c:
        page = c.get("/login").text
        token = page.split('name="csrf" value="')[1].split('"')[0]
        c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": token})
        pages = -(-args.stations // 50)
        for label, path in [
            ("first page", "/admin/fleet"),
            ("last page", f"/admin/fleet?page={pages}"),
            ("one group", "/admin/fleet?group=g03"),
            ("alerts only", "/admin/fleet?alert=any&page=2"),
            ("one version", "/admin/fleet?version=0.3.9&alert=backlog"),
            ("search", "/admin/fleet?q=st-001"),
            ("one station", "/admin/fleet/st-00007"),
        ]:
            c.get(path)  # warm up
            p50, p95 = timed(c, path, args.requests)
            print(f"{label:12s} {path:42s} p50 {p50:6.0f} ms  p95 {p95:6.0f} ms")
    engine.dispose()


if __name__ == "__main__":
    main()
