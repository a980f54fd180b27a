"""Station management inside ``kiosk-sync``: remote configuration, remote
commands, update orders, and the station figures of ``hk.status/1``.

:class:`StationManagement` is given to :class:`sync.link.Link` by the
composition root (``healthkiosk sync run``); the link subscribes to the topics
of :meth:`StationManagement.topics` on every connection, hands their messages
to :meth:`StationManagement.on_message` and tells it when a connection is up
(:meth:`StationManagement.connected`). Work runs in
:meth:`StationManagement.run`, one item at a time, so configuration documents
are decided in the order they arrive; restarts (which wait for an idle moment)
and the update orders' own connection (:mod:`management.update_orders`) run
beside it.

Configuration: every document must be signed by a key of ``fleet.config_keys``
(:mod:`management.signedconfig`), newer than any this station has seen for its
scope, and, when the station's clock is trusted, not expired; then see
:mod:`management.remote_config` for the rules. Each refusal is reported with its
reason. Reports (``hk.config-report/1``) are retained on
``hk/v1/st/<id>/config-report``.

Commands (``hk.command/1`` on ``.../cmd``, answered with
``hk.command-result/1`` on ``.../cmd-result``): ``logs`` (``lines``, masked),
``resync``, ``restart``, ``repair`` (``role``), ``help_ack`` (``call``, ``by``: a
call for staff acknowledged on the web, :mod:`management.helprelay`, which also
sends the kiosk's calls as ``hk.help/1``). A command past its
``expires_at`` is answered ``ok: false`` and not run; a command id is answered
once (ids kept in ``<data_dir>/commands-seen.json``). Answers that cannot be
sent wait for the next connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from healthkiosk import clocktrust, visitlock
from healthkiosk.config import Config
from healthkiosk.errors import (
    ConfigError,
    HealthKioskError,
    RemoteConfigRefusedError,
    SchemaError,
    SyncError,
)
from healthkiosk.logsetup import setup_logging
from healthkiosk.mqtt import Connection, Message
from management import (
    commands,
    devicestatus,
    helprelay,
    pairings,
    signedconfig,
    stationhealth,
    techpin,
    update_orders,
)
from management.remote_config import (
    Accepted,
    Doc,
    OverlayState,
    Rejected,
    Scope,
    Stale,
    admit,
    decide,
    local_mapping,
    scope_key,
    seed_high_water,
)
from sync.schema import (
    Command,
    CommandResult,
    ConfigOutcome,
    ConfigReport,
    DesiredConfig,
    decode,
    encode,
    group_topic,
    topic,
)
from updater.keys import load_trusted

log = logging.getLogger(__name__)

ROLES = ("blood_pressure", "glucose", "id_card")
PUBLISH_TIMEOUT_S = 10.0


class LinkPort(Protocol):
    """What :class:`StationManagement` needs from the link."""

    cfg: Config
    generation: int

    def apply_config(self, cfg: Config) -> int: ...

    def request_reconnect(self) -> None: ...

    async def resync(self) -> int: ...

    def last_error(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class _ConfigWork:
    scope: Scope
    payload: bytes


@dataclass(frozen=True, slots=True)
class _CommandWork:
    payload: bytes


def _now() -> datetime:
    return datetime.now(UTC)


class StationManagement:
    def __init__(
        self,
        link: LinkPort,
        *,
        clock: Callable[[], datetime] = _now,
        clock_trust: clocktrust.ClockTrust | None = None,
        clock_trusted: Callable[[], bool] | None = None,
    ) -> None:
        """``clock_trust``: the station's clock state for the status (by default
        the system's, as ``[station] clock`` says); ``clock_trusted``: whether a
        signed document's expiry can be checked (by default that same state)."""
        self.link = link
        self.clock_trust = clock_trust
        cfg = link.cfg
        self.station_id = cfg.station.id
        self.group = cfg.station.group
        self.data_dir = cfg.data_dir
        self.state = OverlayState.load(self.data_dir)
        seed_high_water(self.state, group=self.group, station_id=self.station_id)
        self.seen = commands.SeenCommands(self.data_dir)
        self.devices_path = devicestatus.path_for(self.data_dir)
        self._clock = clock
        self._clock_trusted = clock_trusted or (lambda: self._clock_trust().refresh().synced)
        """Whether the station's clock is synchronised (blocking: called in a thread);
        a signed document's expiry is enforced only then."""
        self._queue: asyncio.Queue[_ConfigWork | _CommandWork] = asyncio.Queue()
        self._conn: Connection | None = None
        self._connected_gen = -1
        self._gen_changed = asyncio.Event()
        self._pending: list[tuple[str, bytes, bool]] = []
        self._restart_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.help = helprelay.HelpRelay(
            self.data_dir, self.station_id, publish=self._publish_now, clock=clock
        )

    # --- the link's side ---------------------------------------------------------------

    def topics(self) -> list[tuple[str, int]]:
        return [
            (group_topic(self.group, "config"), 1),
            (topic(self.station_id, "config"), 1),
            (topic(self.station_id, "cmd"), 1),
        ]

    def handles(self, name: str) -> bool:
        return name in {t for t, _q in self.topics()}

    def on_message(self, msg: Message) -> None:
        if msg.topic == topic(self.station_id, "cmd"):
            self._queue.put_nowait(_CommandWork(msg.payload))
        elif msg.topic == topic(self.station_id, "config"):
            self._queue.put_nowait(_ConfigWork("station", msg.payload))
        elif msg.topic == group_topic(self.group, "config"):
            self._queue.put_nowait(_ConfigWork("group", msg.payload))

    async def connected(self, conn: Connection, generation: int) -> None:
        """A connection made with the configuration of ``generation`` is up."""
        self._conn = conn
        self._connected_gen = generation
        self._gen_changed.set()
        pending, self._pending = self._pending, []
        for i, (name, payload, retain) in enumerate(pending):
            try:
                await conn.publish(name, payload, retain=retain, timeout=PUBLISH_TIMEOUT_S)
            except HealthKioskError:
                self._pending = pending[i:] + self._pending
                raise

    def disconnected(self) -> None:
        self._conn = None

    def status_fields(self) -> dict[str, Any]:
        """The station's figures for ``hk.status/1`` (blocking: call in a thread)."""
        cfg = self.link.cfg
        health = stationhealth.measure(self.data_dir, cfg.store_path)
        clock = self._clock_trust().refresh()
        pins = techpin.read(techpin.path_for(self.data_dir))
        return {
            "tech_pin_failures": pins.failures,
            "tech_pin_locked_until": pins.locked_until,
            "config_version": self.state.config_version(),
            "disk_free_mb": health.disk_free_mb,
            "disk_free_percent": health.disk_free_percent,
            "store_size_mb": health.store_size_mb,
            "cpu_temp_c": health.cpu_temp_c,
            "devices": devicestatus.read(self.devices_path),
            "clock_synced": clock.synced,
            "clock_source": clock.source,
            "clock_max_error_s": clock.max_error_s,
            "clock_last_sync": clock.last_sync,
        }

    def _clock_trust(self) -> clocktrust.ClockTrust:
        """The station's clock state (its setting may change with the configuration)."""
        return self.clock_trust or clocktrust.shared(self.link.cfg.station.clock)

    # --- the work loop -------------------------------------------------------------------

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._work())
            tg.create_task(self.help.run())
            if update_orders.enabled(self.link.cfg):
                tg.create_task(update_orders.UpdateOrders(self.link.cfg).run())

    async def _work(self) -> None:
        if self.state.previous is not None:
            # A new configuration was on probation when we stopped: finish it.
            scope = self.state.probation_scope or "station"
            doc = self.state.applied.get(scope)
            log.warning("configuration %s v%s still on probation", scope, doc and doc.version)
            await self._probation(scope, doc.version if doc else None, self.link.generation)
        while True:
            work = await self._queue.get()
            try:
                if isinstance(work, _ConfigWork):
                    await self._on_config(work)
                else:
                    await self._on_command(work)
            except (HealthKioskError, OSError) as err:
                log.error("fleet: could not handle %s: %s", type(work).__name__, err)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, name: str, payload: bytes, *, retain: bool) -> None:
        conn = self._conn
        if conn is not None and conn.connected:
            try:
                await conn.publish(name, payload, retain=retain, timeout=PUBLISH_TIMEOUT_S)
                return
            except HealthKioskError as err:
                log.warning("fleet: publish to %s failed, kept for later: %s", name, err)
        if retain:
            self._pending = [p for p in self._pending if p[0] != name]
        self._pending.append((name, payload, retain))

    async def _publish_now(self, name: str, payload: bytes) -> None:
        """Publish at QoS 1 now, or raise (the caller tries again later)."""
        conn = self._conn
        if conn is None or not conn.connected:
            raise SyncError("not connected", reason="not_connected")
        await conn.publish(name, payload, timeout=PUBLISH_TIMEOUT_S)

    # --- configuration ---------------------------------------------------------------------

    async def _report(
        self,
        outcome: ConfigOutcome,
        *,
        scope: Scope | None,
        version: int | None,
        reason: str = "",
        restart_needed: bool = False,
    ) -> None:
        running = self.state.versions()
        about = dict(running)
        if scope is not None:
            about[scope] = version
        report = ConfigReport(
            station_id=self.station_id,
            outcome=outcome,
            group_version=about["group"],
            station_version=about["station"],
            running_group_version=running["group"],
            running_station_version=running["station"],
            reason=reason[:2000],
            restart_needed=restart_needed,
            at=self._clock(),
        )
        log.info(
            "configuration %s: %s v%s%s", outcome, scope, version, f" ({reason})" if reason else ""
        )
        await self._publish(topic(self.station_id, "config-report"), encode(report), retain=True)

    def _verified(self, work: _ConfigWork) -> DesiredConfig:
        """The signed document of ``work`` (blocking: reads the trusted keys);
        :class:`RemoteConfigRefusedError` or :class:`ConfigError` with the reason."""
        if not work.payload.strip():
            raise signedconfig.refuse(
                signedconfig.Refusal.UNSIGNED,
                "an empty payload (an unsigned clear) is ignored; a scope is cleared "
                "by a signed document (healthkiosk admin config clear)",
            )
        trusted = load_trusted(list(self.link.cfg.fleet.config_keys))
        msg = signedconfig.verify(work.payload, trusted)
        expected = self.group if work.scope == "group" else self.station_id
        if msg.scope != work.scope or msg.target != expected:
            raise ConfigError(
                f"document for {msg.scope} {msg.target!r} on the topic of {work.scope} {expected!r}"
            )
        if msg.expires is None:
            raise signedconfig.refuse(signedconfig.Refusal.MALFORMED, "the document has no expiry")
        if msg.cleared and msg.settings:
            raise signedconfig.refuse(signedconfig.Refusal.MALFORMED, "a clear carries settings")
        return msg

    async def _on_config(self, work: _ConfigWork) -> None:
        try:
            msg = await asyncio.to_thread(self._verified, work)
        except (RemoteConfigRefusedError, ConfigError) as err:
            log.warning("configuration %s refused: %s", work.scope, err)
            await self._report("rejected", scope=work.scope, version=None, reason=str(err))
            return
        version = msg.version
        key = scope_key(work.scope, group=self.group, station_id=self.station_id)
        verdict = admit(self.state, key=key, version=version)
        if isinstance(verdict, Stale):
            log.debug("configuration %s v%s ignored: %s", work.scope, version, verdict.why)
            return
        if isinstance(verdict, Rejected):
            await self._report("rejected", scope=work.scope, version=version, reason=verdict.reason)
            return
        note = ""
        assert msg.expires is not None  # checked in _verified
        if await asyncio.to_thread(self._clock_trusted):
            if msg.expires <= self._clock():
                why = f"expired at {msg.expires.isoformat()} (re-sign and publish it again)"
                await self._report(
                    "rejected", scope=work.scope, version=version, reason=f"expired: {why}"
                )
                return
        else:
            note = "freshness not confirmed: the station's clock is not synchronised"
        # Signed, newer, in date: never again a version at or below this one.
        self.state.high_water[key] = version
        await asyncio.to_thread(self.state.save, self.data_dir)
        doc = (
            None
            if msg.cleared
            else Doc(
                version=version,
                settings=dict(msg.settings),
                issued_at=msg.issued_at.isoformat(),
                issued_by=msg.issued_by,
                rules_digest=msg.rules_digest,
            )
        )
        running = self.link.cfg
        try:
            local = await asyncio.to_thread(local_mapping, running)
        except ConfigError as err:
            await self._report("rejected", scope=work.scope, version=version, reason=str(err))
            return
        decision = decide(self.state, scope=work.scope, doc=doc, local=local, running=running)
        if isinstance(decision, Stale):
            log.debug("configuration %s v%s ignored: %s", work.scope, version, decision.why)
            return
        if isinstance(decision, Rejected):
            self.state.refused[work.scope] = version
            await asyncio.to_thread(self.state.save, self.data_dir)
            await self._report(
                "rejected", scope=work.scope, version=version, reason=decision.reason
            )
            return
        await self._apply(work.scope, version, decision, note=note)

    async def _apply(
        self, scope: Scope, version: int | None, accepted: Accepted, *, note: str = ""
    ) -> None:
        p = accepted.plan
        if p.reconnect:
            self.state.previous = dict(self.state.applied)
            self.state.probation_scope = scope
        self.state.applied = accepted.overlay
        await asyncio.to_thread(self.state.save, self.data_dir)
        before = self.link.cfg
        gen = self.link.apply_config(accepted.config)
        self._live_logging(before, accepted.config)
        log.info(
            "configuration %s v%s: %d key(s) changed (live in sync: %s; kiosk restart: %s)",
            scope,
            version,
            len(p.changed),
            ", ".join(sorted(p.sync_live)) or "-",
            ", ".join(sorted(p.kiosk_restart)) or "-",
        )
        if p.reconnect:
            self.link.request_reconnect()
            if not await self._probation(scope, version, gen, note=note):
                return
        else:
            await self._report(
                "applied",
                scope=scope,
                version=version,
                reason=note,
                restart_needed=p.restart_needed,
            )
        if p.restart_needed:
            self._spawn(self._restart_for_config(scope, version))

    async def _probation(
        self, scope: str, version: int | None, gen: int, *, note: str = ""
    ) -> bool:
        """Wait for a connection made with ``gen``'s settings; revert when none
        comes within ``fleet.revert_after_s``. True when the new one holds."""
        limit = self.link.cfg.fleet.revert_after_s
        deadline = time.monotonic() + limit
        sc: Scope = "group" if scope == "group" else "station"
        while self._connected_gen < gen:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._gen_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gen_changed.wait(), timeout=left)
        if self._connected_gen >= gen:
            self.state.previous = None
            self.state.probation_scope = None
            await asyncio.to_thread(self.state.save, self.data_dir)
            await self._report("applied", scope=sc, version=version, reason=note)
            return True
        m = self.link.cfg.mqtt
        why = (
            f"broker {m.host}:{m.port} not reached within {limit:g} s "
            f"(last error: {self.link.last_error() or 'none'}); went back to the previous "
            "configuration"
        )
        if self.state.previous is not None:
            self.state.applied = dict(self.state.previous)
        self.state.previous = None
        self.state.probation_scope = None
        if version is not None:
            self.state.refused[sc] = version
        await asyncio.to_thread(self.state.save, self.data_dir)
        try:
            old = await asyncio.to_thread(
                lambda: _effective_now(self.link.cfg, self.state),
            )
        except ConfigError as err:  # the file changed under us: keep going on it
            log.error("previous configuration no longer valid: %s", err)
            old = self.link.cfg
        before = self.link.cfg
        self.link.apply_config(old)
        self._live_logging(before, old)
        self.link.request_reconnect()
        log.warning("configuration %s v%s reverted: %s", sc, version, why)
        await self._report("reverted", scope=sc, version=version, reason=why)
        return False

    def _live_logging(self, before: Config, after: Config) -> None:
        """``logging.*`` live in this process (the kiosk app takes it at its next start)."""
        if before.logging == after.logging:
            return
        root = logging.getLogger()
        if any(getattr(h, "_healthkiosk", False) for h in root.handlers):
            setup_logging(level=after.logging.level, fmt=after.logging.format)
        else:
            root.setLevel(after.logging.level)

    async def _restart_for_config(self, scope: Scope, version: int | None) -> None:
        ok, detail = await self.restart_kiosk("configuration change")
        if ok:
            await self._report("applied", scope=scope, version=version, restart_needed=False)
        else:
            log.error("kiosk restart for configuration %s v%s failed: %s", scope, version, detail)

    # --- restarts ------------------------------------------------------------------------------

    def _visit_lock_path(self) -> Path:
        return visitlock.path_for(self.link.cfg)

    async def restart_kiosk(self, why: str) -> tuple[bool, str]:
        """Run the restart hook at an idle moment (no visit in progress; the visit
        lock is held meanwhile so none begins). (ok, detail)."""
        cfg = self.link.cfg
        argv = list(cfg.fleet.restart_command)
        if not argv:
            return False, "fleet.restart_command is empty"
        async with self._restart_lock:
            started = time.monotonic()
            try:
                lock = await asyncio.to_thread(
                    visitlock.wait_for_no_visit,
                    self._visit_lock_path(),
                    timeout_s=cfg.fleet.idle_wait_s,
                )
            except HealthKioskError as err:
                return False, f"not restarted: {err}"
            waited = time.monotonic() - started
            try:
                code, out = await commands.run_hook(argv)
            finally:
                lock.end()
        log.info("kiosk app restarted (%s): exit %d", why, code)
        if code != 0:
            return False, f"restart command exited {code}: {out[-500:]}"
        return True, f"kiosk app restarted after {waited:.1f} s waiting for an idle moment"

    # --- commands ------------------------------------------------------------------------------

    async def _on_command(self, work: _CommandWork) -> None:
        try:
            msg = decode(work.payload)
        except SchemaError as err:
            log.warning("ignoring an invalid command: %s", err)
            return
        if not isinstance(msg, Command):
            log.warning("ignoring %s on the command topic", msg.schema_)
            return
        cid = str(msg.id)
        if cid in self.seen:
            log.info("command %s (%s) seen before: not run again", cid, msg.command)
            return
        await asyncio.to_thread(self.seen.add, cid)
        now = self._clock()
        if msg.expires_at <= now:
            await self._answer(msg, False, f"expired at {msg.expires_at.isoformat()}: not run")
            return
        log.info("command %s: %s %s", cid, msg.command, msg.args)
        if msg.command in ("restart", "repair"):
            self._spawn(self._run_command(msg))  # waits for an idle moment
        else:
            await self._run_command(msg)

    async def _run_command(self, msg: Command) -> None:
        output = ""
        try:
            if msg.command == "logs":
                source, output = await commands.recent_logs(
                    self.link.cfg, commands.LogsArgs.model_validate(msg.args).lines
                )
                n_lines = output.count("\n") + 1 if output else 0
                ok, detail = True, f"{n_lines} lines from {source}"
            elif msg.command == "resync":
                n = await self.link.resync()
                ok, detail = True, f"{n} unreceipted reading(s) queued to send again"
            elif msg.command == "restart":
                ok, detail = await self.restart_kiosk("remote command")
            elif msg.command == "help_ack":
                ok, detail = await self.help.acknowledge(
                    helprelay.HelpAckArgs.model_validate(msg.args)
                )
            else:
                ok, detail = await self._repair(commands.RepairArgs.model_validate(msg.args).role)
        except (HealthKioskError, OSError, ValueError, TypeError) as err:
            ok, detail = False, f"{type(err).__name__}: {err}"
        await self._answer(msg, ok, detail, output)

    async def _answer(self, msg: Command, ok: bool, detail: str, output: str = "") -> None:
        result = CommandResult(
            station_id=self.station_id,
            id=msg.id,
            command=msg.command,
            ok=ok,
            detail=commands.mask_line(detail)[:2000],
            output=output,
            at=self._clock(),
        )
        await self._publish(topic(self.station_id, "cmd-result"), encode(result), retain=False)

    async def _repair(self, role: str | None) -> tuple[bool, str]:
        """Forget what pairs the kiosk with the device of ``role``, then restart the
        kiosk app at an idle moment so it scans and pairs again.

        A BLE device is found by its service and an address: the configured
        ``address``, else the one the technician paired (:mod:`management.pairings`,
        forgotten here); the operating system (BlueZ) keeps the bond. So:
        with an address, ``fleet.unpair_command`` removes BlueZ's bond; without
        one there is no bond to name and the restart alone makes the kiosk scan
        afresh. Serial devices have no pairing."""
        if role not in ROLES:
            return False, f"give args.role, one of {', '.join(ROLES)}"
        dc = getattr(self.link.cfg.devices, role)
        if dc is None:
            return False, f"no device configured for {role} (devices.{role})"
        if dc.port and not dc.address:
            return False, (
                f"{role} is a serial device on {dc.port}: there is no pairing to forget "
                "(the kiosk reopens the port at the next measurement)"
            )
        notes: list[str] = []
        data_dir = self.link.cfg.data_dir
        address = dc.address or pairings.address_for(data_dir, role)
        if not dc.address and pairings.forget(data_dir, role):
            notes.append(f"paired device {address} forgotten")
        if address:
            argv = [a.replace("{address}", address) for a in self.link.cfg.fleet.unpair_command]
            code, out = await commands.run_hook(argv) if argv else (0, "no unpair command")
            if code == 0:
                notes.append(f"bond with {address} removed")
            else:
                notes.append(f"no bond removed for {address} (exit {code}: {out[-200:]})")
        else:
            notes.append("no address configured: no bond to forget, the kiosk scans afresh")
        ok, detail = await self.restart_kiosk(f"repair {role}")
        return ok, "; ".join([*notes, detail])


def _effective_now(cfg: Config, state: OverlayState) -> Config:
    from management.remote_config import effective

    return effective(local_mapping(cfg), state.layers(), source=cfg.source)
