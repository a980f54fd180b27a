"""City-scale benchmark: many stations, one broker, several ingest workers.

Each simulated station is its own MQTT v5 client with its own credentials
(a generated Mosquitto deployment: password file and per-station ACL). Two
phases:

- realistic: every station publishes ``--readings`` readings spread at random
  over ``--duration`` seconds (a busy morning at every station at once);
- burst: every station publishes ``--burst`` readings as fast as a window of
  ``--window`` unacknowledged publishes allows (a city-wide reconnect after an
  outage).

Two to four ``healthkiosk followup ingest`` workers share the subscription
(``$share/<the generated group>/...``, each worker its own broker account) and
write to PostgreSQL (``--database-url``, or a throwaway cluster from Debian's
binaries) or SQLite (``--sqlite``).

Prints the ingest throughput of each phase, the end-to-end latency p50/p99 from
measurement (the station's clock when it published) to the doctor's database
(the row's ``received_at``), the time until each station had its receipt,
the broker's and workers' peak memory, and proves that every published reading
is stored exactly once.

    python bench/city.py                                   # 1,000 stations, PostgreSQL
    python bench/city.py --stations 20 --readings 2 --burst 5 --duration 5 --sqlite   # CI
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from healthkiosk.mqtt import MqttSettings, connect  # noqa: E402
from healthkiosk.rules import classify_blood_pressure, classify_glucose, load_rules  # noqa: E402
from tests.support.synckit import (  # noqa: E402
    Mosquitto,
    Notify,
    PgCluster,
    create_database,
    drop_database,
    followup_section,
    id_number,
    write_config,
)

RULES = load_rules()


def reading(station: str, seq: int, rng: random.Random) -> dict[str, Any]:
    now = datetime.now(UTC)
    person = rng.randrange(100_000)
    if rng.random() < 0.6:
        s, d = rng.randint(100, 185), rng.randint(60, 112)
        d = min(d, s - 20)
        c = classify_blood_pressure(s, d, RULES.blood_pressure)
        kind = "blood_pressure"
        values: dict[str, Any] = {
            "systolic": s,
            "diastolic": d,
            "pulse": rng.randint(55, 95),
            "unit": "mmHg",
        }
    else:
        mmol = round(rng.uniform(3.5, 18.0), 1)
        meal = rng.choice(["fasting", "random", "after_meal"])
        c = classify_glucose(mmol, meal, RULES.glucose)  # type: ignore[arg-type]
        kind = "glucose"
        values = {"mmol_per_l": mmol, "meal_context": meal}
    return {
        "schema": "hk.reading/1",
        "uuid": str(uuid.uuid4()),
        "station_id": station,
        "station_seq": seq,
        "resident": {"id_number": id_number(person), "name": f"居民{person}", "sex": "unknown"},
        "kind": kind,
        "measured_at": now.isoformat(),
        "values": values,
        "device": {"model": "bench", "transport": "emulated"},
        "classification": {
            "category": c.category,
            "urgent": c.urgent,
            "isolated_systolic": c.isolated_systolic,
            "rule": c.rule,
        },
        "software_version": "bench",
    }


class Station:
    def __init__(self, sid: str, password: str, port: int, rng: random.Random) -> None:
        self.sid, self.password, self.port, self.rng = sid, password, port, rng
        self.seq = 0
        self.sent: dict[str, float] = {}
        self.receipted: dict[str, float] = {}
        self.conn: Any = None

    def settings(self) -> MqttSettings:
        return MqttSettings(
            host="127.0.0.1",
            port=self.port,
            client_id=self.sid,
            username=self.sid,
            password=self.password,
            keepalive_s=60,
            clean_start=True,
            session_expiry_s=300,
            manual_ack=False,
        )

    async def receipts(self) -> None:
        async for msg in self.conn.messages():
            body = json.loads(msg.payload)
            t = time.time()
            for u in body.get("accepted", []):
                self.receipted.setdefault(u, t)

    async def publish(self, n: int, *, spread_s: float, window: int) -> None:
        pending: set[asyncio.Future[None]] = set()
        for _ in range(n):
            if spread_s > 0:
                await asyncio.sleep(self.rng.uniform(0, 2 * spread_s / max(n, 1)))
            while len(pending) >= window:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for f in done:
                    f.result()
            self.seq += 1
            r = reading(self.sid, self.seq, self.rng)
            self.sent[r["uuid"]] = time.time()
            pending.add(
                self.conn.start_publish(f"hk/v1/st/{self.sid}/readings", json.dumps(r).encode())
            )
        if pending:
            await asyncio.gather(*pending)


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (from /proc)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return float("nan")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def run(args: argparse.Namespace, tmp: Path, db_url: str) -> int:
    sids = [f"st-{i:04d}" for i in range(args.stations)]
    broker = Mosquitto(tmp / "broker", sids, ingest_workers=max(args.workers, 1))
    broker.start()
    print(f"broker: mosquitto on 127.0.0.1:{broker.port}, {len(sids)} station accounts")
    cfg = write_config(
        tmp / "followup.toml",
        {
            "station": {"id": "followup-host", "data_dir": str(tmp / "followup-data")},
            "followup": followup_section(broker, db_url),
            "logging": {"level": "WARNING"},
        },
    )
    notify = Notify(tmp)
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "healthkiosk",
                "--config",
                str(cfg),
                "followup",
                "ingest",
                "--client-id",
                f"followup-ingest-{i + 1}",
            ],
            cwd=ROOT,
            env={**os.environ, "NOTIFY_SOCKET": str(notify.path)},
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / f"ingest-{i}.log", "wb"),
        )
        for i in range(args.workers)
    ]
    try:
        # Every worker subscribed before anything is published: a shared
        # subscription with no subscriber yet drops what the stations send.
        subscribed = await asyncio.to_thread(_subscribed, notify, args.workers, 60.0)
        notify.close()
        if subscribed < args.workers:
            print(f"only {subscribed} of {args.workers} ingest workers subscribed within 60 s")
            return 1
        rng = random.Random(args.seed)
        stations = [
            Station(s, broker.password(s), broker.port, random.Random(rng.random())) for s in sids
        ]
        t0 = time.perf_counter()
        async with contextlib.AsyncExitStack() as stack:
            sem = asyncio.Semaphore(50)

            async def open_one(st: Station) -> None:
                async with sem:
                    st.conn = await stack.enter_async_context(connect(st.settings()))
                    await st.conn.subscribe([(f"hk/v1/st/{st.sid}/receipts", 1)], timeout=30)

            await asyncio.gather(*(open_one(st) for st in stations))
            print(f"connected {len(stations)} stations in {time.perf_counter() - t0:.1f} s")
            listeners = [asyncio.create_task(st.receipts()) for st in stations]
            phases: list[tuple[str, int, float]] = [
                ("realistic", args.readings, args.duration),
                ("burst", args.burst, 0.0),
            ]
            results = []
            for name, n, spread in phases:
                if n <= 0:
                    continue
                before = {u for st in stations for u in st.sent}
                start = time.time()
                await asyncio.gather(
                    *(st.publish(n, spread_s=spread, window=args.window) for st in stations)
                )
                published = time.time()
                mine = {u: t for st in stations for u, t in st.sent.items() if u not in before}
                deadline = time.time() + args.timeout
                while time.time() < deadline:
                    got = sum(1 for st in stations for u in st.receipted if u in mine)
                    if got >= len(mine):
                        break
                    await asyncio.sleep(0.2)
                done = time.time()
                receipt_lat = [
                    st.receipted[u] - st.sent[u]
                    for st in stations
                    for u in st.receipted
                    if u in mine
                ]
                results.append((name, mine, start, published, done, receipt_lat))
            for t in listeners:
                t.cancel()
            await asyncio.gather(*listeners, return_exceptions=True)
        mem = {"broker": rss_mb(broker.proc.pid) if broker.proc else float("nan")}
        for i, w in enumerate(workers):
            mem[f"ingest-{i}"] = rss_mb(w.pid)
        worker_cpu = sum(cpu_s(w.pid) for w in workers)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.wait(15)
        broker.stop()

    from sqlalchemy import create_engine, text

    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as c:
        rows = c.execute(text("SELECT uuid, measured_at, received_at FROM readings")).all()
    engine.dispose()
    stored: dict[str, tuple[Any, Any]] = {}
    dupes = 0
    for u, m, r in rows:
        if u in stored:
            dupes += 1
        stored[u] = (m, r)

    def aware(v: Any) -> datetime:
        d = v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
        return d if d.tzinfo else d.replace(tzinfo=UTC)

    ok = True
    print(
        f"\nstations {args.stations}, ingest workers {args.workers}, window {args.window}, "
        f"database {db_url.split('://', 1)[0]}"
    )
    for name, mine, start, published, _done, receipt_lat in results:
        lat = [
            (aware(stored[u][1]) - aware(stored[u][0])).total_seconds() * 1000
            for u in mine
            if u in stored
        ]
        last = max((aware(stored[u][1]).timestamp() for u in mine if u in stored), default=start)
        missing = [u for u in mine if u not in stored]
        rate = len(mine) / max(last - start, 1e-9)
        print(
            f"[{name}] published {len(mine)} in {published - start:.1f} s; "
            f"stored {len(mine) - len(missing)}; ingest {rate:,.0f} readings/s; "
            f"measurement->database p50 {pct(lat, 50):.0f} ms, p99 {pct(lat, 99):.0f} ms; "
            f"receipt at the station p50 {pct(receipt_lat, 50) * 1000:.0f} ms, "
            f"p99 {pct(receipt_lat, 99) * 1000:.0f} ms"
        )
        if missing:
            ok = False
            print(f"  LOST {len(missing)} readings")
    print(
        f"rows in database {len(rows)}, duplicate UUIDs {dupes}, "
        f"published {sum(len(r[1]) for r in results)}"
    )
    if dupes or len(rows) != sum(len(r[1]) for r in results):
        ok = False
    print("peak RSS: " + ", ".join(f"{k} {v:.0f} MB" for k, v in mem.items()))
    # Throughput here depends on what else the machine runs; the workers' own
    # CPU time per reading does much less (the database server's is not in it).
    print(
        f"ingest workers' CPU: {worker_cpu:.1f} s in all, "
        f"{worker_cpu * 1000 / max(len(rows), 1):.2f} ms per stored reading"
    )
    print("RESULT: " + ("nothing lost, nothing duplicated" if ok else "FAILED"))
    return 0 if ok else 1


def _subscribed(notify: Notify, workers: int, timeout_s: float) -> int:
    """How many workers said STATUS=connected (sd_notify) within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    seen = 0
    while seen < workers and time.monotonic() < deadline:
        seen += sum("STATUS=connected" in m for m in notify.drain())
        time.sleep(0.01)
    return seen


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stations", type=int, default=1000)
    ap.add_argument("--readings", type=int, default=3, help="per station, realistic phase")
    ap.add_argument("--duration", type=float, default=60.0, help="realistic phase length (s)")
    ap.add_argument("--burst", type=int, default=20, help="per station, burst phase")
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2, choices=[1, 2, 3, 4])
    ap.add_argument("--database-url", help="PostgreSQL URL of a server to create a database on")
    ap.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    ap.add_argument(
        "--keep-database", action="store_true", help="keep the PostgreSQL database it made"
    )
    ap.add_argument("--timeout", type=float, default=300.0, help="wait for receipts (s)")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("HK_BENCH_SEED", "1")))
    args = ap.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.stations * 2 + 100:
        print(f"open-file limit {hard} is too low for {args.stations} stations", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="hk-city-") as d:
        tmp = Path(d)
        cluster = None
        admin: str | None = None
        db_name = ""
        try:
            if args.sqlite:
                db_url = f"sqlite:///{tmp / 'followup.sqlite'}"
            else:
                admin = args.database_url
                if admin is None:
                    cluster = PgCluster()
                    admin = cluster.start()
                db_name = f"hk_city_{uuid.uuid4().hex[:8]}"
                db_url = create_database(admin, db_name)
            return asyncio.run(run(args, tmp, db_url))
        finally:
            if admin is not None and db_name and not args.keep_database:
                drop_database(admin, db_name)
            if cluster is not None:
                cluster.stop()


if __name__ == "__main__":
    raise SystemExit(main())
