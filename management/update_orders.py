"""Software update orders over MQTT: the station's side (inside ``kiosk-sync``).

The administrator's rollout publishes a retained ``hk.update-order/1`` on the
station's group topic (``hk/v1/grp/<group>/update``) or its own
(``hk/v1/st/<id>/update``); the station's own order wins. This module
(started from :class:`sync.link.Link`, on a connection of its own, client id
``<station>.updates``) picks the effective order and reports every step on the
retained ``hk/v1/st/<id>/update-report`` (``hk.update-report/1``).

Why the updater does not run inside ``kiosk-sync``: the update restarts
``kiosk-sync`` itself (``update.restart_command``), and systemd stops a unit's
whole cgroup, children included. So the order is handed over through files:

* ``<data_dir>/update-order.json`` — the order, written atomically when the
  update may start. ``healthkiosk-update-order.path`` watches it and starts
  ``healthkiosk-update-order.service`` (``healthkiosk admin update run-order``,
  the updater of the last proven release, as root); or, when
  ``update.order_command`` is set, ``kiosk-sync`` starts that command itself in
  a new session (tests, machines without systemd).
* ``<data_dir>/update-progress.jsonl`` — the runner appends one JSON line per
  progress event and a final ``result`` line, each tagged with the order's key.
  ``kiosk-sync`` follows the file and publishes the reports; after a restart
  (the update's own, or a crash) it finds the order it launched in
  ``<data_dir>/update-orders-state.json`` and goes on following, so the
  outcome is reported even though the process that launched the update died.
* ``update-orders-state.json`` also remembers the last handled order (done,
  refused, rolled back, failed): it is not run again on every reconnect. A new
  order — even for the same release — has a new ``issued_at`` and is run.

When the link's own connection first reaches the broker, ``kiosk-sync``
reports itself ``ready`` to the updater's health check
(:mod:`healthkiosk.health`, unit ``kiosk-sync``; :mod:`sync.link`): a new
release's ``kiosk-sync`` that cannot reach the broker is rolled back.

Before launching, the station waits while a visit is in progress (the visit
lock), reporting ``waiting``; an order cleared meanwhile (rollout aborted) is
dropped. An order for the release already running is answered ``succeeded``
without running anything; everything else (downgrades included) goes to the
updater, which verifies and refuses with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from healthkiosk import visitlock
from healthkiosk.atomicfile import write_atomic
from healthkiosk.config import UPDATES_ACCOUNT_SUFFIX, Config
from healthkiosk.errors import (
    BrokerUnavailableError,
    PublishRefusedError,
    SchemaError,
    SubscribeRefusedError,
    SyncTimeoutError,
)
from healthkiosk.mqtt import Backoff, Connection, connect, settings_from
from healthkiosk.validation import describe
from sync import schema
from sync.schema import UpdateOrder, UpdateOutcome, UpdateReport, group_topic, topic
from updater import install, state

log = logging.getLogger(__name__)

ORDER_FILE = "update-order.json"
PROGRESS_FILE = "update-progress.jsonl"
STATE_FILE = "update-orders-state.json"
POLL_S = 0.25
RETRY_S = 5.0
PROGRESS_EVERY_S = 1.0
"""Download progress is reported at most this often (every step change at once)."""


def _now() -> datetime:
    return datetime.now(UTC)


def order_key(order: UpdateOrder) -> str:
    """Identifies one order: a re-issued order (new ``issued_at``) is a new one."""
    return f"{order.rollout_id}|{order.release}|{order.manifest_url}|{order.issued_at.isoformat()}"


class _File(BaseModel):
    model_config = ConfigDict(extra="ignore")


class OrderFile(_File):
    """``<data_dir>/update-order.json``: the order handed to the runner."""

    key: str
    order: UpdateOrder


class Reported(_File):
    key: str
    offset: int = 0


class State(_File):
    """``<data_dir>/update-orders-state.json``: what kiosk-sync remembers across
    restarts (written merged, key by key, by :meth:`UpdateOrders._save`)."""

    handled: str | None = None
    """The key of the last order handled (never run again)."""
    launched: OrderFile | None = None
    """The order handed to the runner and followed until its outcome."""
    final: dict[str, Any] | None = None
    """The last outcome (an ``hk.update-report/1``), kept until the broker has it."""
    final_sent: bool = False
    reported: Reported | None = None
    """How far the progress lines of ``launched`` were reported."""


class ProgressLine(_File):
    """One line of ``<data_dir>/update-progress.jsonl``, written by :func:`run_order`."""

    key: str = ""
    event: str = ""
    at: str | None = None
    pid: int = 0
    boot: str | None = None
    step: str = ""
    release: int | None = None
    version: str | None = None
    detail: str | None = ""
    done: int | None = None
    total: int | None = None
    visit: bool = False
    outcome: str | None = None
    reason: str | None = None
    message: str | None = None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # the runner is root's; we may not signal it, but it exists
    try:  # a zombie is dead (Linux)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


# --- choosing the order (pure) ----------------------------------------------------------


@dataclass(slots=True)
class OrderBook:
    """The retained orders seen for this station; its own order wins over its group's."""

    station: UpdateOrder | None = None
    group: UpdateOrder | None = None

    def effective(self) -> UpdateOrder | None:
        return self.station or self.group


# --- the runner (``healthkiosk admin update run-order``) ----------------------------------


def run_order(cfg: Config) -> int:
    """Apply the order in ``<data_dir>/update-order.json``, writing progress lines.

    Runs in its own process (its own systemd unit): it outlives the restart of
    ``kiosk-sync`` that the update performs. Exit code as ``update apply``.
    """
    from healthkiosk.errors import UpdateError
    from updater.settings import from_config
    from updater.updater import ProgressEvent, Updater

    try:
        handed = OrderFile.model_validate_json((cfg.data_dir / ORDER_FILE).read_bytes())
    except FileNotFoundError:
        log.warning("no update order in %s", cfg.data_dir / ORDER_FILE)
        return 0
    except ValidationError as err:
        log.warning("update order %s refused: %s", cfg.data_dir / ORDER_FILE, describe(err))
        return 0
    key, order = handed.key, handed.order
    progress_path = cfg.data_dir / PROGRESS_FILE
    settings = from_config(cfg)

    def line(event: str, **fields: Any) -> None:
        record = {"key": key, "event": event, "at": _now().isoformat(), **fields}
        with progress_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def progress(ev: ProgressEvent) -> None:
        visit = False
        if ev.step == state.Step.WAIT_VISIT:
            visit = visitlock.visit_in_progress(settings.visit_lock)
        line(
            "progress",
            step=str(ev.step),
            release=ev.release,
            detail=ev.detail,
            done=ev.done,
            total=ev.total,
            visit=visit,
        )

    line("start", pid=os.getpid(), boot=_boot_id())
    try:
        result = Updater(settings, progress=progress).apply(order.manifest_url)
    except UpdateError as err:
        line("error", reason=err.reason, message=str(err))
        return 2
    except Exception as err:  # the runner must always leave a last word
        line("error", reason="updater_crashed", message=f"{type(err).__name__}: {err}")
        raise
    line(
        "result",
        outcome=result.outcome,
        release=result.release,
        version=result.version,
        reason=result.reason,
        detail=result.detail,
    )
    return 0 if result.outcome in ("installed", "up_to_date") else 1


# --- from progress lines to reports (pure) ----------------------------------------------


def report_for(
    line: ProgressLine | dict[str, Any], *, station: str, order: UpdateOrder, running: int | None
) -> UpdateReport | None:
    """The report one progress line stands for, or None (lines worth no report)."""
    ln = line if isinstance(line, ProgressLine) else ProgressLine.model_validate(line)
    event = ln.event
    base: dict[str, Any] = {
        "station_id": station,
        "rollout_id": order.rollout_id,
        "release": order.release,
        "running_release": running,
        "at": _now(),
    }
    outcome: UpdateOutcome
    if event == "start":
        return UpdateReport(step="start", outcome="in_progress", reason="updater started", **base)
    if event == "progress":
        step = ln.step
        if step == state.Step.DONE:
            return None  # the result line follows with the outcome
        detail = str(ln.detail)
        if ln.done is not None and ln.total:
            detail = f"{detail} {100 * ln.done // ln.total}% of {ln.total} bytes"
        outcome = "waiting" if ln.visit else "in_progress"
        if outcome == "waiting":
            detail = "a visit is in progress"
        return UpdateReport(step=step, outcome=outcome, reason=detail[:2000], **base)
    if event == "error":
        reason = f"{ln.reason}: {ln.message}"
        return UpdateReport(step="done", outcome="failed", reason=reason[:2000], **base)
    if event == "result":
        result = str(ln.outcome)
        reason, detail = ln.reason or "", ln.detail or ""
        if result in ("installed", "up_to_date"):
            outcome, text = "succeeded", (detail or result.replace("_", " "))
        elif result == "rolled_back":
            outcome, text = "rolled_back", f"{reason}; {detail}" if detail else reason
        elif result == "refused":
            outcome, text = "refused", f"{reason}: {detail}"
        else:  # interrupted, abandoned: the release never ran here
            outcome, text = "failed", f"{result}" + (f" ({reason})" if reason else "")
            text += f": {detail}" if detail else ""
        return UpdateReport(step="done", outcome=outcome, reason=text[:2000], **base)
    return None


# --- the service inside kiosk-sync ---------------------------------------------------------


@dataclass(slots=True)
class _Following:
    key: str
    order: UpdateOrder
    launched_at: float
    offset: int = 0
    pid: int | None = None
    relaunched: bool = False
    last_step: str = ""
    last_sent: float = 0.0


@dataclass(slots=True)
class _Outbox:
    """Reports not yet PUBACKed by the broker, in order (retained: the last one stands)."""

    items: deque[tuple[UpdateReport, tuple[str, int] | None]] = field(
        default_factory=lambda: deque(maxlen=200)
    )
    """Each report with (order key, progress file offset just past its line)."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, report: UpdateReport, where: tuple[str, int] | None = None) -> None:
        self.items.append((report, where))
        self.wake.set()


class UpdateOrders:
    """Receives update orders and reports the updater's steps; :meth:`run` until cancelled."""

    def __init__(
        self,
        cfg: Config,
        *,
        spawn: Callable[[list[str], Path], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.station_id = cfg.station.id
        self.group = cfg.station.group
        d = cfg.data_dir
        self.order_path = d / ORDER_FILE
        self.progress_path = d / PROGRESS_FILE
        self.state_path = d / STATE_FILE
        self.visit_lock = visitlock.path_for(cfg)
        self.book = OrderBook()
        self._changed = asyncio.Event()
        self._out = _Outbox()
        self._save_lock = threading.Lock()
        self._children: list[subprocess.Popen[bytes]] = []
        self._spawn = spawn or self._spawn_detached
        self.backoff = Backoff(cfg.mqtt.reconnect_min_s, cfg.mqtt.reconnect_max_s)

    # --- persistent memory --------------------------------------------------------------

    def _load(self) -> State:
        """The remembered state; a fresh one when missing or damaged."""
        try:
            return State.model_validate_json(self.state_path.read_bytes())
        except FileNotFoundError:
            return State()
        except ValidationError as err:
            log.warning("update state %s ignored: %s", self.state_path, describe(err))
            return State()

    def _save(self, **changes: Any) -> None:
        with self._save_lock:  # called from worker threads
            data = {**self._load().model_dump(mode="json", by_alias=True), **changes}
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.state_path, json.dumps(data, sort_keys=True))

    def running_release(self) -> int | None:
        st = state.load(self.cfg.update.root / state.STATE_NAME)
        if st.current is not None:
            return st.current.release
        name = install.current_target(self.cfg.update.root)
        if name is None:
            return None
        head = name.partition("-")[0]
        return int(head) if head.isdigit() else None

    # --- main -------------------------------------------------------------------------

    async def run(self) -> None:
        """Until cancelled; a failure here is logged and retried, and never stops
        the link it runs beside (readings come first)."""
        while True:
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._connection_loop())
                    tg.create_task(self._worker())
            except Exception:
                log.exception("update orders failed; starting again in %g s", RETRY_S)
            await asyncio.sleep(RETRY_S)

    async def _connection_loop(self) -> None:
        # Its own broker account, bound to this client id (docs/security.md): the
        # station's username + ".updates", with the station's one password.
        cid = f"{self.station_id}{UPDATES_ACCOUNT_SUFFIX}"
        settings = settings_from(self.cfg.mqtt, client_id=cid)
        if settings.username:
            settings = dataclasses.replace(
                settings, username=f"{settings.username}{UPDATES_ACCOUNT_SUFFIX}"
            )
        while True:
            try:
                async with connect(settings) as conn:
                    self.backoff.reset()
                    await conn.subscribe(
                        [
                            (topic(self.station_id, "update"), 1),
                            (group_topic(self.group, "update"), 1),
                        ],
                        timeout=10.0,
                    )
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._receiver(conn))
                        tg.create_task(self._publisher(conn))
            except* (
                BrokerUnavailableError,
                SyncTimeoutError,
                SubscribeRefusedError,
                PublishRefusedError,
            ) as group:
                log.warning("update orders link: %s", group.exceptions[0])
            await asyncio.sleep(self.backoff.next_delay())

    async def _receiver(self, conn: Connection) -> None:
        own, grp = topic(self.station_id, "update"), group_topic(self.group, "update")
        async for msg in conn.messages():
            try:
                self._take(msg.topic, msg.payload, own=own, grp=grp)
            finally:
                conn.ack(msg)

    def _take(self, where: str, payload: bytes, *, own: str, grp: str) -> None:
        order: UpdateOrder | None = None
        if payload:
            try:
                decoded = schema.decode(payload)
            except SchemaError as err:
                log.warning("ignoring an invalid update order on %s: %s", where, err)
                return
            if not isinstance(decoded, UpdateOrder):
                log.warning("ignoring a %s on %s", decoded.schema_, where)
                return
            order = decoded
        if where == own:
            if order is not None and (order.scope, order.target) != ("station", self.station_id):
                log.warning("ignoring an order for %s on %s", order.target, where)
                return
            self.book.station = order
        elif where == grp:
            if order is not None and (order.scope, order.target) != ("group", self.group):
                log.warning("ignoring an order for group %s on %s", order.target, where)
                return
            self.book.group = order
        else:
            return
        what = f"release {order.release}" if order else "cleared"
        log.info("update order on %s: %s", where, what)
        self._changed.set()

    async def _publisher(self, conn: Connection) -> None:
        where = topic(self.station_id, "update-report")
        while True:
            while self._out.items:
                item = self._out.items[0]
                report, where_in_file = item
                await conn.publish(where, schema.encode(report), qos=1, retain=True, timeout=10.0)
                if self._out.items and self._out.items[0] is item:
                    self._out.items.popleft()
                if report.outcome not in ("waiting", "in_progress"):
                    await asyncio.to_thread(self._save, final_sent=True)
                elif where_in_file is not None:
                    # A restarted kiosk-sync goes on from the first line not yet published.
                    key, offset = where_in_file
                    await asyncio.to_thread(self._save, reported={"key": key, "offset": offset})
            self._out.wake.clear()
            await self._out.wake.wait()

    def _report(self, report: UpdateReport, *, where: tuple[str, int] | None = None) -> None:
        """Queue a report for the broker (on the event loop)."""
        log.info(
            "update report: release %s %s %s %s",
            report.release, report.step, report.outcome, report.reason[:200],
        )  # fmt: skip
        self._out.put(report, where)

    # --- the worker ---------------------------------------------------------------------

    async def _worker(self) -> None:
        saved = await asyncio.to_thread(self._load)
        if saved.final and not saved.final_sent:
            with contextlib.suppress(SchemaError):
                final = schema.from_dict(saved.final)
                if isinstance(final, UpdateReport):
                    self._out.put(final)
        launched = saved.launched
        if launched is not None:
            # Restarted while an update we launched was under way (the update
            # restarts kiosk-sync): go on following it to its outcome.
            reported = saved.reported
            f = _Following(
                key=launched.key,
                order=launched.order,
                launched_at=time.monotonic(),
                offset=reported.offset if reported and reported.key == launched.key else 0,
            )
            f.pid = await asyncio.to_thread(self._runner_pid, f.key)
            await self._follow(f)
        while True:
            effective = self.book.effective()
            handled = (await asyncio.to_thread(self._load)).handled
            if effective is not None and order_key(effective) != handled:
                await self._handle(effective)
                continue
            self._changed.clear()
            await self._changed.wait()

    async def _handle(self, order: UpdateOrder) -> None:
        key = order_key(order)
        running = await asyncio.to_thread(self.running_release)
        if running == order.release:
            await self._finish(
                key,
                UpdateReport(
                    station_id=self.station_id, rollout_id=order.rollout_id,
                    release=order.release, running_release=running, step="done",
                    outcome="succeeded", reason=f"already running release {running}", at=_now(),
                ),
            )  # fmt: skip
            return
        if visitlock.visit_in_progress(self.visit_lock):
            self._report(
                UpdateReport(
                    station_id=self.station_id, rollout_id=order.rollout_id,
                    release=order.release, running_release=running, step="wait_visit",
                    outcome="waiting", reason="a visit is in progress", at=_now(),
                )
            )  # fmt: skip
            while visitlock.visit_in_progress(self.visit_lock):
                await asyncio.sleep(POLL_S)
                current = self.book.effective()
                if current is None or order_key(current) != key:
                    log.info("update order for release %s withdrawn while waiting", order.release)
                    return
        await asyncio.to_thread(self._launch, key, order)
        await self._follow(_Following(key=key, order=order, launched_at=time.monotonic()))

    def _launch(self, key: str, order: UpdateOrder) -> None:
        self.progress_path.unlink(missing_ok=True)
        self._save(launched={"key": key, "order": schema.to_dict(order)})
        write_atomic(
            self.order_path,
            json.dumps({"key": key, "order": schema.to_dict(order)}, sort_keys=True),
        )
        command = list(self.cfg.update.order_command)
        if command:
            self._spawn(command, self.cfg.data_dir / "update-runner.log")
        log.info("update to release %s handed to the updater", order.release)

    def _read_lines(self, f: _Following) -> list[tuple[ProgressLine, int]]:
        lines, f.offset = self._lines_from(f.key, f.offset)
        return lines

    def _lines_from(self, key: str, offset: int) -> tuple[list[tuple[ProgressLine, int]], int]:
        """New complete lines of order ``key`` after ``offset``, each with the
        offset just past it; and the offset after the last complete line."""
        try:
            with self.progress_path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
        except FileNotFoundError:
            return [], offset
        out = []
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            raw, start = chunk[start:end], end + 1
            with contextlib.suppress(ValidationError):  # a torn or foreign line
                item = ProgressLine.model_validate_json(raw)
                if item.key == key:
                    out.append((item, offset + start))
        return out, offset + start

    def _runner_pid(self, key: str) -> int | None:
        lines, _ = self._lines_from(key, 0)
        starts = [ln for ln, _ in lines if ln.event == "start"]
        if not starts:
            return None
        if starts[-1].boot != _boot_id():
            return 0  # started before a reboot: long gone (its pid may be reused)
        return starts[-1].pid

    async def _follow(self, f: _Following) -> None:
        timeout = self.cfg.update.order_start_timeout_s
        while True:
            lines = await asyncio.to_thread(self._read_lines, f)
            running = await asyncio.to_thread(self.running_release)
            for ln, offset in lines:
                if ln.event == "start":
                    same_boot = ln.boot == _boot_id()
                    f.pid = ln.pid if same_boot else 0
                report = report_for(ln, station=self.station_id, order=f.order, running=running)
                if report is None:
                    continue
                if ln.event in ("result", "error"):
                    await self._finish(f.key, report)
                    return
                now = time.monotonic()
                if report.step != f.last_step or now - f.last_sent >= PROGRESS_EVERY_S:
                    f.last_step, f.last_sent = report.step, now
                    self._report(report, where=(f.key, offset))
            if f.pid is not None and not self._runner_alive(f.pid):
                await asyncio.sleep(POLL_S)  # its last lines may still be on the way
                if await asyncio.to_thread(self._read_lines_peek, f):
                    continue
                if not f.relaunched:
                    # The runner died without a result (killed): run it again, it
                    # resumes or rolls back the pending update.
                    log.warning("the updater stopped without a result; starting it again")
                    f.relaunched, f.pid, f.launched_at = True, None, time.monotonic()
                    await asyncio.to_thread(self._relaunch, f)
                    continue
                await self._fail(f, "the updater stopped twice without a result")
                return
            if f.pid is None and time.monotonic() - f.launched_at > timeout:
                await self._fail(f, f"the updater did not start within {timeout:g} s")
                return
            await asyncio.sleep(POLL_S)

    def _read_lines_peek(self, f: _Following) -> bool:
        try:
            return self.progress_path.stat().st_size > f.offset
        except FileNotFoundError:
            return False

    def _relaunch(self, f: _Following) -> None:
        write_atomic(
            self.order_path,
            json.dumps({"key": f.key, "order": schema.to_dict(f.order)}, sort_keys=True),
        )
        command = list(self.cfg.update.order_command)
        if command:
            self._spawn(command, self.cfg.data_dir / "update-runner.log")

    def _runner_alive(self, pid: int) -> bool:
        for child in self._children:
            if child.pid == pid:
                return child.poll() is None  # and reaps it
        return _pid_alive(pid)

    def _spawn_detached(self, command: list[str], log_path: Path) -> None:
        """Start the runner in a session of its own: it outlives this process."""
        self._children = [c for c in self._children if c.poll() is None]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as out:
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
                close_fds=True,
            )
        self._children.append(child)

    async def _fail(self, f: _Following, reason: str) -> None:
        await self._finish(
            f.key,
            UpdateReport(
                station_id=self.station_id, rollout_id=f.order.rollout_id,
                release=f.order.release, running_release=await asyncio.to_thread(
                    self.running_release
                ),
                step="done", outcome="failed", reason=reason, at=_now(),
            ),
        )  # fmt: skip

    async def _finish(self, key: str, report: UpdateReport) -> None:
        """The order is handled: remembered (with its outcome, until the broker
        has it) before the report goes out, so a restart neither reruns it nor
        loses the outcome."""
        await asyncio.to_thread(
            self._save, handled=key, launched=None, final=schema.to_dict(report), final_sent=False
        )
        self._report(report)
        self._changed.set()


def enabled(cfg: Config) -> bool:
    """Update orders are taken only by a station that trusts at least one fleet key."""
    return bool(cfg.update.trusted_keys)
