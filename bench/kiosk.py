"""Kiosk benchmark: start-up time, memory, and notification-to-screen latency.

    python bench/kiosk.py [--runs 3] [--visits 200] [--against REV [--rounds 2]]

Prints, in one run:

- time from process start to the first frame drawn, and RSS once started,
  for the kiosk (on the tests' in-memory fake devices, ``tests/support``) and
  for a bare Kivy app (one Label), with the ratio (target: time ≤ 1.5× bare,
  RSS ≤ bare + 80 MB), and where the start-up time goes: each step's median
  (the kiosk's steps are :data:`kiosk.app.main.STARTUP_STEPS`, which the
  kiosk also logs at its first frame). The trees are byte-compiled first, as
  ``pip`` compiles a station's install (an environment with
  ``PYTHONDONTWRITEBYTECODE`` would otherwise compile the kiosk's own modules
  at every start, and not Kivy's);
- the latency from the monitor's measurement indication (the moment the
  device hands its result over; ``--devices twins``: the standard BLE
  monitor's emulated twin over bumble, every role a twin as with
  ``healthkiosk run --simulate``; ``--devices fakes``: the tests' in-memory fake monitor)
  to the first frame that shows the result screen, over many visits: p50,
  p99, max (target p99 ≤ 50 ms).
  The path measured includes classification, the SQLite commit of the
  reading and its outbox row (``synchronous=FULL``), the trend query and
  rendering.

With ``--against REV`` (a commit, e.g. ``main`` or the commit before a
change) the same latency run is made, in the same run of this script and
alternating with this tree's, on that commit's code (``git archive`` into a
temporary folder, run with this environment's Python): p50 and p99 of both
and the ratio of the p99s (target: this tree's <= 1.1x the other's), in
``--rounds`` parts each, in turn (more parts when other work loads the
machine unevenly). Time is
also split, for this tree, into the flow's part (notification to the result
state: classification, the SQLite commit, the trend) and the screen's part
(the result state to the frame that shows it: widgets built, drawn).

Needs an X display; without ``DISPLAY`` it starts its own Xvfb.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIZE = (800, 480)
IDLE_BETWEEN_VISITS_S = 1.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- children ------------------------------------------------------------------


def child_bare(out: Path) -> None:
    result: dict[str, Any] = {"startup": {"python": time.time()}}
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from kivy.config import Config

    Config.set("graphics", "width", str(SIZE[0]))
    Config.set("graphics", "height", str(SIZE[1]))
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.uix.label import Label

    result["startup"]["kivy_imported"] = time.time()

    class Bare(App):  # type: ignore[misc]
        def build(self) -> Any:
            Window.bind(on_flip=self._flip)
            return Label(text="Hello")

        def _flip(self, *_: Any) -> None:
            if "first_frame" not in result:
                result["first_frame"] = result["startup"]["first_frame"] = time.time()
                Clock.schedule_once(self._done, 2.0)

        def _done(self, *_: Any) -> None:
            result["rss_mb"] = rss_mb()
            out.write_text(json.dumps(result))
            self.stop()

    Bare().run()


def child_kiosk(out: Path, visits: int, devices: str) -> None:
    python = time.time()
    sys.path.insert(0, str(ROOT))
    try:  # as `healthkiosk run` starts (an older tree has no such policy)
        from kiosk.app.gcpolicy import hold_until_first_frame
    except ImportError:
        pass
    else:
        hold_until_first_frame()
    from healthkiosk.config import from_mapping
    from kiosk.app.main import Running, run_kiosk
    from kiosk.flow.state import Screen, State

    imported = time.time()

    data = Path(tempfile.mkdtemp(prefix="hk-bench-"))
    settings: dict[str, Any] = {
        "station": {"data_dir": str(data)},
        "store": {"min_free_mb": 1},
        "kiosk": {"resolution": list(SIZE), "voice_enabled": False, "done_s": 0.05},
        "rules": {"blood_pressure": {"protocol": {"readings": 1, "rest_s": 0, "pause_s": 0}}},
    }
    notified: list[float] = []
    if devices == "twins":
        from emulation.ble.bps import BpsEmulator

        settings["devices"] = {
            "blood_pressure": {
                "driver": "ble-bp-standard",
                "options": {"emulator": {"step_s": 0.001}},
            },
        }
        send_results = BpsEmulator.send_results

        async def timed_send_results(self: BpsEmulator, conn: Any) -> None:
            notified.append(time.perf_counter())  # the indication goes out now
            await send_results(self, conn)

        BpsEmulator.send_results = timed_send_results  # type: ignore[method-assign]
    cfg = from_mapping(settings)
    result: dict[str, Any] = {}
    if devices == "twins":
        # Every role an emulated twin, as `healthkiosk run --simulate`: the
        # monitor's indications over bumble, the card on the SAM reader's pty.
        from emulation.idcard.sam_reader import SAMPLE_CARD
        from emulation.twins import Simulation

        simulation = Simulation(cfg)
        cfg = simulation.config
        open_devices: Any = simulation.open_devices

        def present_card(_r: Running) -> None:
            simulation.present_card(SAMPLE_CARD)
    else:
        # The tests' in-memory fakes: start-up and memory without a radio stack.
        from tests.support.fake_devices import demo_card, open_fake_devices

        def open_devices() -> Any:
            return open_fake_devices(speed=400.0, start_delay_s=0.0)

        def present_card(r: Running) -> None:
            r.devices.id_card.present(demo_card())  # type: ignore[union-attr]

    async def on_screen(flow: Any, screen: Screen) -> None:
        reached = asyncio.Event()
        stop = flow.subscribe(lambda s: reached.set() if s.screen is screen else None)
        try:
            await asyncio.wait_for(reached.wait(), 30)
        finally:
            stop()

    async def scenario(r: Running) -> None:
        from kivy.core.window import Window

        result["first_frame"] = await r.first_frame_at
        marks = getattr(r, "startup", {})  # an older tree's kiosk has no marks
        result["startup"] = {"python": python, "imported": imported, **marks}
        await asyncio.sleep(2.0)
        result["rss_mb"] = rss_mb()
        flow, bp = r.flow, r.devices.blood_pressure
        samples: list[float] = []
        shown = asyncio.Event()
        waiting = {"result": False}

        state_at: list[float] = []
        flow_part: list[float] = []

        def on_result(_m: object) -> None:
            notified.append(time.perf_counter())

        def on_state(state: State) -> None:
            if state.screen is Screen.RESULT and notified and not state_at:
                state_at.append(time.perf_counter())

        def on_rendered(state: State) -> None:
            if state.screen is Screen.RESULT and notified:
                waiting["result"] = True

        def on_flip(*_: Any) -> None:
            if waiting["result"]:
                waiting["result"] = False
                t0 = notified.pop()
                samples.append(time.perf_counter() - t0)
                if state_at:
                    flow_part.append(state_at[0] - t0)
                state_at.clear()
                notified.clear()
                shown.set()

        flow.subscribe(on_state)

        if devices == "fakes":
            bp.on_result = on_result
        r.app.renderer.on_rendered = on_rendered
        Window.bind(on_flip=on_flip)
        for _ in range(visits):
            shown.clear()
            flow.start_checkin()
            present_card(r)
            await on_screen(flow, Screen.CONFIRM)
            flow.confirm()
            flow.choose("bp")
            flow.start_bp()
            await asyncio.wait_for(shown.wait(), 30)
            flow.finish()
            await on_screen(flow, Screen.ATTRACT)
            # The next elder does not arrive within a second of the last one
            # leaving; the kiosk collects garbage in that idle moment
            # (kiosk/app/gcpolicy.py), as it does in service.
            await asyncio.sleep(IDLE_BETWEEN_VISITS_S)
        result["latency_s"] = samples
        result["flow_s"] = flow_part
        result["rss_after_mb"] = rss_mb()

    asyncio.run(
        run_kiosk(
            cfg,
            fullscreen=False,
            devices=open_devices,
            extra=scenario,
        )
    )
    out.write_text(json.dumps(result))


# --- parent --------------------------------------------------------------------


def start_xvfb() -> subprocess.Popen[bytes] | None:
    if os.environ.get("DISPLAY"):
        return None
    for n in range(120, 200):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            proc = subprocess.Popen(
                ["Xvfb", f":{n}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(200):
                if Path(f"/tmp/.X11-unix/X{n}").exists():
                    break
                time.sleep(0.05)
            os.environ["DISPLAY"] = f":{n}"
            return proc
    raise SystemExit("no free X display")


def run_child(
    kind: str, visits: int, devices: str = "twins", *, tree: Path = ROOT
) -> dict[str, Any]:
    """One child process, from ``tree``'s copy of this script and its code."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        env = {
            **os.environ,
            "KIVY_HOME": str(Path(tmp) / "kivy"),
            "KIVY_NO_ARGS": "1",
            "KIVY_NO_CONSOLELOG": "1",
            "KIVY_NO_FILELOG": "1",
            "SDL_AUDIODRIVER": "dummy",
            "PYTHONPATH": str(tree),
        }
        start = time.time()
        proc = subprocess.run(
            [sys.executable, str(tree / "bench" / "kiosk.py"), "--child", kind, "--out", str(out),
             "--visits", str(visits), "--devices", devices],
            cwd=tree, env=env, capture_output=True, text=True, timeout=1200, check=False,
        )  # fmt: skip
        if not out.exists():
            raise SystemExit(f"{kind} child failed:\n{proc.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(out.read_text())
        result["started"] = start
        result["startup_s"] = result["first_frame"] - start
        return result


def compile_tree(tree: Path) -> None:
    """Byte-compile ``tree``'s Python files, as ``pip`` does for a station's
    install: the kiosk starts from bytecode there, and Kivy here (its wheel was
    compiled when installed), whatever ``PYTHONDONTWRITEBYTECODE`` says."""
    import compileall
    import re

    skip = re.compile(r"[/\\](\.venv|\.git|artifacts|node_modules)[/\\]")
    compileall.compile_dir(tree, quiet=2, rx=skip, workers=1)


STEPS_BEFORE_APP = (
    ("python", "the interpreter started, the bench's own imports"),
    ("imported", "the kiosk's imports (configuration, flow, app)"),
)
"""The bench child's marks before :data:`kiosk.app.main.STARTUP_STEPS`."""


def startup_steps(runs: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """Each start-up step's median seconds over ``runs``, in order (a step
    from the mark before it; the first from the process's start)."""
    names = list(runs[0]["startup"])
    out = []
    for i, name in enumerate(names):
        took = [
            r["startup"][name] - (r["startup"][names[i - 1]] if i else r["started"]) for r in runs
        ]
        out.append((name, statistics.median(took)))
    return out


def print_startup(kiosk: list[dict[str, Any]], bare: list[dict[str, Any]]) -> None:
    sys.path.insert(0, str(ROOT))  # the package, not this script (bench/kiosk.py)
    from kiosk.app import main as kiosk_main

    labels = dict(STEPS_BEFORE_APP) | dict(getattr(kiosk_main, "STARTUP_STEPS", ()))
    labels["kivy_imported"] = "Kivy imported, its window made"
    bare_steps = dict(startup_steps(bare))
    print(f"  where the start-up goes (median s of {len(kiosk)} runs; each step up to its mark):")
    print(f"    {'step':<56} kiosk   bare")
    for name, took in startup_steps(kiosk):
        other = f"{bare_steps[name]:.3f}" if name in bare_steps else "    -"
        print(f"    {labels.get(name, name):<56} {took:.3f}  {other}")


def checkout(rev: str, into: Path) -> Path:
    """The code of commit ``rev`` in ``into`` (``git archive``: no worktree to clean up)."""
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()  # fmt: skip
    archive = subprocess.run(["git", "archive", "--format=tar", sha], cwd=ROOT, check=True,
                             capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--visits", type=int, default=200)
    ap.add_argument("--devices", choices=["twins", "fakes"], default="twins")
    ap.add_argument("--against", metavar="REV", help="also time this commit's code (p99 ratio)")
    ap.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="with --against: the visits in this many parts for each tree, in turn "
        "(more parts: both trees meet the same load from other work)",
    )
    ap.add_argument("--child", choices=["bare", "kiosk"])
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.child == "bare":
        child_bare(Path(a.out))
        return 0
    if a.child == "kiosk":
        child_kiosk(Path(a.out), a.visits, a.devices)
        return 0
    xvfb = start_xvfb()
    other: list[float] = []
    other_flow: list[float] = []
    other_rss = float("nan")
    compile_tree(ROOT)
    with tempfile.TemporaryDirectory(prefix="hk-bench-against-") as old_tree:
        try:
            # Start-up and memory with the tests' in-memory fakes (an emulated
            # twin's radio stack is test equipment a station does not start);
            # the latency run with the devices asked for. Bare and kiosk in
            # turn, so that both meet the same load from other work.
            bare: list[dict[str, Any]] = []
            kiosk: list[dict[str, Any]] = []
            for _ in range(a.runs):
                bare.append(run_child("bare", 0))
                kiosk.append(run_child("kiosk", 0, "fakes"))
            visits: dict[str, Any] = {"latency_s": [], "flow_s": []}
            tree = checkout(a.against, Path(old_tree)) if a.against else None
            if tree is not None:
                compile_tree(tree)
            if a.visits:  # in parts, in turn with the other commit's, for the same load
                rounds = max(1, a.rounds) if tree else 1
                part = a.visits // rounds
                for _ in range(rounds):
                    if tree is not None:
                        old = run_child("kiosk", part, a.devices, tree=tree)
                        other += old["latency_s"]
                        other_flow += old.get("flow_s", [])
                        other_rss = old["rss_after_mb"]
                    run = run_child("kiosk", part, a.devices)
                    visits["latency_s"] += run["latency_s"]
                    visits["flow_s"] += run.get("flow_s", [])
                    visits["rss_after_mb"] = run["rss_after_mb"]
                    visits["per_process"] = part
        finally:
            if xvfb is not None:
                xvfb.terminate()
    t_bare = statistics.median(r["startup_s"] for r in bare)
    t_kiosk = statistics.median(r["startup_s"] for r in kiosk)
    m_bare = statistics.median(r["rss_mb"] for r in bare)
    m_kiosk = statistics.median(r["rss_mb"] for r in kiosk)
    lat = [s * 1000 for s in visits["latency_s"]]
    ok_t, ok_m = t_kiosk <= 1.5 * t_bare, m_kiosk <= m_bare + 80
    ok_l = bool(lat) and pct(lat, 99) <= 50
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"runs: {a.runs} each, window {SIZE[0]}x{SIZE[1]}, DISPLAY {os.environ.get('DISPLAY')}, "
          f"load average {load} (1, 5, 15 min) at the end; bytecode compiled first")  # fmt: skip
    pairs = sorted(k["startup_s"] / b["startup_s"] for b, k in zip(bare, kiosk, strict=True))
    print(f"start-up to first frame: bare {t_bare:.2f} s, kiosk {t_kiosk:.2f} s, "
          f"ratio {t_kiosk / t_bare:.2f} (target <= 1.5) {'OK' if ok_t else 'MISSED'}; "
          f"each kiosk run over the bare run before it: median {statistics.median(pairs):.2f}, "
          f"{pairs[0]:.2f}-{pairs[-1]:.2f}")  # fmt: skip
    each = {k: " ".join(f"{r['startup_s']:.2f}" for r in runs)
            for k, runs in (("bare", bare), ("kiosk", kiosk))}  # fmt: skip
    print(f"  each run: bare {each['bare']} s, kiosk {each['kiosk']} s")
    print_startup(kiosk, bare)
    print(f"RSS once started: bare {m_bare:.0f} MB, kiosk {m_kiosk:.0f} MB, "
          f"+{m_kiosk - m_bare:.0f} MB (target <= +80) {'OK' if ok_m else 'MISSED'}")  # fmt: skip
    if lat:
        print(f"RSS after {visits['per_process']} visits in one process ({a.devices}): "
              f"{visits['rss_after_mb']:.0f} MB")  # fmt: skip
    if lat:
        print(f"notification ({a.devices}) -> result on screen over {len(lat)} visits: "
              f"p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms, max {max(lat):.1f} ms "
              f"(target p99 <= 50) {'OK' if ok_l else 'MISSED'}")  # fmt: skip
    ok_r = True
    if lat and visits["flow_s"]:
        part = [s * 1000 for s in visits["flow_s"]]
        print(f"  where the time goes: notification -> result state (flow: classify, save, "
              f"trend) p50 {pct(part, 50):.1f} ms, p99 {pct(part, 99):.1f} ms; the rest is the "
              f"screen (build the result widgets, draw the frame)")  # fmt: skip
    if lat and other:
        old = [s * 1000 for s in other]
        ratio = pct(lat, 99) / pct(old, 99)
        ok_r = ratio <= 1.1
        print(f"against {a.against}: p50 {pct(old, 50):.1f} ms, p99 {pct(old, 99):.1f} ms "
              f"({len(old)} visits); p99 this tree / {a.against}: {ratio:.2f} "
              f"(target <= 1.1) {'OK' if ok_r else 'MISSED'}; p50 this tree / "
              f"{a.against}: {pct(lat, 50) / pct(old, 50):.2f}")  # fmt: skip
        if other_flow:
            part = [s * 1000 for s in other_flow]
            print(f"  {a.against}'s flow part p50 {pct(part, 50):.1f} ms, p99 {pct(part, 99):.1f} "
                  f"ms; RSS after its last part: {other_rss:.0f} MB")  # fmt: skip
    return 0 if ok_t and ok_m and ok_l and ok_r else 1


if __name__ == "__main__":
    raise SystemExit(main())
