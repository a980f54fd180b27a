"""Sync benchmark: one local Mosquitto, real processes, real SQLite files.

Prints:
- raw paho QoS 1 publish throughput (our transport, no storage, the same
  reading payloads and in-flight window): the practical limit;
- the full durable path (SQLite outbox -> broker -> followup database ->
  receipt -> outbox updated) in readings per second, and the ratio (target >= 0.5);
- the time to drain a 30-day backlog of 9,000 readings after reconnecting
  (target < 15 s);
- the peak RSS of the ``healthkiosk sync run`` process (target < 60 MB).

Run from the repository root: ``python bench/sync.py`` (``--scale 0.02`` for a
quick run at 2 % of the sizes, as CI does).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from healthkiosk.mqtt import MqttSettings, connect  # noqa: E402
from sync.outbox import Outbox  # noqa: E402
from sync.store.db import open_store  # noqa: E402
from tests.support.fixtures.broker import Deploy  # noqa: E402
from tests.support.synckit import (  # noqa: E402
    Mosquitto,
    Notify,
    fill_store,
    outbox_counts,
    running,
    spawn,
    stop,
)

N_RAW = 10_000
N_DURABLE = 10_000
N_BACKLOG = 9_000
WINDOW = 20


async def raw_throughput(broker: Mosquitto, payloads: list[bytes]) -> float:
    settings = MqttSettings(
        host="127.0.0.1",
        port=broker.port,
        client_id="bench-st",
        username="bench-st",
        password=broker.password("bench-st"),
        clean_start=True,
        session_expiry_s=0,
    )
    async with connect(settings) as conn:
        t = time.perf_counter()
        pending: set[asyncio.Future[None]] = set()
        for p in payloads:
            if len(pending) >= WINDOW:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for f in done:
                    f.result()
            pending.add(conn.start_publish("hk/v1/st/bench-st/readings", p))
        await asyncio.gather(*pending)
        return len(payloads) / (time.perf_counter() - t)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def drain(d: Deploy, n: int, notify: Notify) -> tuple[float, float]:
    """Start the link on a store holding ``n`` undelivered readings; seconds to
    empty the outbox (from the connection) and the link's peak RSS."""
    notify.drain()
    with running(spawn(d.kiosk, "sync", "run", notify=notify)) as proc:
        if not notify.wait_for("STATUS=connected", 30):
            raise RuntimeError("the link did not connect")
        t = time.perf_counter()
        while outbox_counts(d.store)[0] > 0:
            time.sleep(0.05)
        elapsed = time.perf_counter() - t
        rss = peak_rss_mb(proc.pid)
        stop(proc)
    assert outbox_counts(d.store)[0] == 0 and outbox_counts(d.store)[1] >= n
    return elapsed, rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the sizes (0 < s <= 1)")
    args = ap.parse_args()
    if not 0 < args.scale <= 1:
        ap.error("--scale must be in (0, 1]")
    n_raw, n_durable, n_backlog = (
        max(10, int(n * args.scale)) for n in (N_RAW, N_DURABLE, N_BACKLOG)
    )
    tmp = Path(tempfile.mkdtemp(prefix="hk-bench-"))
    broker = Mosquitto(tmp / "broker", ["bench-st", "bench-dr"])
    broker.start()
    notify = Notify(Path("/tmp"))
    try:
        src = tmp / "src.sqlite"
        fill_store(src, n_raw)
        payloads = [
            p.payload for p in Outbox(open_store(src), station_id="bench-st").fetch_after(-1, n_raw)
        ]
        raw = asyncio.run(raw_throughput(broker, payloads))

        url = f"sqlite:///{tmp / 'followup.sqlite'}"
        d = Deploy(tmp, broker, "bench-dr", url, inflight_window=WINDOW)
        with running(spawn(d.followup, "followup", "ingest", notify=notify)) as ing:
            if not notify.wait_for("STATUS=connected", 30):
                raise RuntimeError("ingest did not connect")
            fill_store(d.store, n_durable, seed=2)
            t_durable, rss1 = drain(d, n_durable, notify)
            fill_store(d.store, n_backlog, seed=3, start_seq=n_durable)
            t_backlog, rss2 = drain(d, n_backlog, notify)
            stop(ing)
        durable = n_durable / t_durable
        print(f"raw paho QoS 1 publish:        {raw:8.0f} readings/s (window {WINDOW})")
        print(f"durable path (outbox->db->receipt): {durable:8.0f} readings/s")
        print(f"ratio durable/raw:             {durable / raw:8.2f} (target >= 0.5)")
        target = "target < 15 s" if n_backlog == N_BACKLOG else "target < 15 s at 9,000"
        print(f"drain {n_backlog:,}-reading backlog:   {t_backlog:8.1f} s ({target})")
        print(f"sync process peak RSS:         {max(rss1, rss2):8.1f} MB (target < 60 MB)")
    finally:
        notify.close()
        broker.kill()


if __name__ == "__main__":
    main()
