"""Omron blood pressure monitors over Bluetooth LE (the models of
:data:`drivers.ble.omron.layouts.MODELS`).

Contract:
- the monitor must be **bonded** with this station and hold this station's
  **unlock key**: ``pair()`` does both, in the monitor's pairing window (the
  Bluetooth button held until -P- blinks): the BLE bond
  (:mod:`drivers.ble.pairing`, a stale bond removed first), then key
  programming (``02`` → ``82 00``, ``00`` + key → ``80 00``, retried while the
  window lasts), then one start/end transmission;
- a session: scan (by the configured address when there is one, else by the
  vendor service), connect, read Device Information and the battery, unlock
  (``01`` + key → ``81 00``; anything else → ``key_refused``), subscribe to the
  four RX channels, start transmission, …, end transmission (status 0), close;
- every memory frame is checked (XOR check byte, type, address, length); a
  reply that is late or fails a check is asked for again (3 attempts, 1 s
  each), then the last error is raised — no reading;
- **only the station's user memory** (option ``user``, 1 or 2: the user
  switch position the station's monitor is set to) is ever read;
- **clock**: the clock section is read at each session (timed on its own) and
  the drift (device − station) kept in ``clock_drift_s``; when the station's
  clock is trusted (option ``clock_trusted``, until the core's clock-trust
  module replaces it) and the model's clock write is verified and the drift
  exceeds :data:`CLOCK_FIX_S`, the clock section is written back with the
  station's time;
- ``measure()`` returns only a record newer than the baseline of the visit's
  step (``begin_step()``, or the first ``measure()`` when no step was begun):
  made (on the station's clock, the drift taken off) no earlier than
  :data:`BASELINE_TOLERANCE_S` before the step began, and — after the step's
  first session — stored in a slot after the write pointer seen at that
  first session (the pointer moves on with each record returned). A record
  already in memory when the visit's step began is never returned: the newest
  one seen at the first session, and standard indications dated before the
  step, are kept as device-memory records (:mod:`drivers.memory`). Where the
  monitor offers the standard Blood Pressure Measurement (0x2A35), its
  indications are the measurement path instead
  (with Current Time for the drift). ``measure()`` writes nothing to the
  monitor's memory. Movement → :class:`MeasurementError`; irregular
  heartbeat → kept and flagged;
- ``download()`` reads the records not read yet (the unread count before the
  write slot, wrapping around the ring), then writes the unread section back
  with this user's count reset — so no record is read twice across sessions —
  on models where omblepy's maintainer verified that write; elsewhere, and
  with ``everything=True``, every record of the user, writing nothing.
  Records ``measure()`` returned are left out. A link lost mid-download →
  :class:`DownloadInterrupted` with no records (nothing was reset: the next
  download reads them all again).
Verified against the emulated twins (``emulation/ble/omron.py``) built from
the documented layouts and captures; not on a monitor (docs/guides/devices.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from drivers.ble import uuids
from drivers.ble.bps import record_to_reading as bps_reading
from drivers.ble.bps_codec import BpsCodecError, decode_measurement
from drivers.ble.clockdrift import ClockDrift, measure_drift
from drivers.ble.link import BleBackend, BleLink, find_device, naming, open_on_link
from drivers.ble.omron import frames
from drivers.ble.omron.frames import (
    Frame,
    OmronFrameError,
    Reassembler,
    UnlockOp,
    check_reply,
    encode_frame,
    end_command,
    read_command,
    split,
    start_command,
    unlock_frame,
    write_command,
)
from drivers.ble.omron.layouts import ModelLayout, layout_for, layout_from_model_number
from drivers.ble.omron.memory import (
    TimeSection,
    UnreadSection,
    decode_time,
    decode_unread,
    encode_time,
    encode_unread,
    new_slots,
    newest_slot,
    read_commands,
    runs,
)
from drivers.ble.omron.records import OmronRecord, decode_record
from drivers.ble.options import BleOptions
from drivers.ble.pairing import PAIRING_WINDOW_S, Step, pair_device
from drivers.ble.radio_errors import PAIRING_FAILED
from drivers.memory import StepWindow
from healthkiosk.errors import (
    ConfigError,
    DeviceConnectionError,
    DeviceError,
    DeviceTimeoutError,
    DownloadInterrupted,
    InvalidChecksum,
    MeasurementError,
    MeasurementProblem,
    ProtocolError,
)
from healthkiosk.readings import (
    BloodPressureMeasurement,
    BloodPressureStatus,
    CuffPressure,
    DeviceInfo,
    DeviceMemoryRecord,
    MemoryReason,
)

log = logging.getLogger(__name__)

REPLY_TIMEOUT_S = 1.0
ATTEMPTS = 3
UNLOCK_TIMEOUT_S = 5.0
KEY_PROGRAMMING_TRIES = 10
"""omblepy tries up to 10 times, a second apart, while the OS finishes bonding."""
CLOCK_FIX_S = 60.0
"""hass-omron leaves an Omron clock alone within 60 s: each write is an EEPROM write."""
BASELINE_TOLERANCE_S = 5.0
"""A record stamped this much before ``measure()`` began still counts (clock
resolution, the drift's uncertainty, START pressed as the screen changed)."""
DEFAULT_SCAN_TIMEOUT_S = 30.0
STANDARD_QUIET_S = 1.0
"""On the standard path: the stored records have all come once none came for this long."""
DEVICE_LIMIT = 400
KEY_REFUSED = "key_refused"


@dataclass(frozen=True, slots=True)
class OmronOptions:
    model: str | None
    user: int
    key: bytes
    poll_interval_s: float
    baseline_tolerance_s: float

    @classmethod
    def parse(cls, extra: Mapping[str, Any]) -> OmronOptions:
        try:
            user = int(extra.get("user", 1))
            poll = float(extra.get("poll_interval_s", 3.0))
            tolerance = float(extra.get("baseline_tolerance_s", BASELINE_TOLERANCE_S))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"invalid Omron option: {err}", key="devices.options") from None
        if user not in (1, 2):
            raise ConfigError(
                "user must be 1 or 2 (the monitor's user switch)", key="devices.options.user"
            )
        model = extra.get("model")
        if model is not None:
            layout_for(str(model))  # an unknown model is named now, not at the first visit
        try:
            key = frames.parse_key(str(extra["key"])) if "key" in extra else frames.DEFAULT_KEY
        except OmronFrameError as err:
            raise ConfigError(str(err), key="devices.options.key") from None
        return cls(None if model is None else str(model), user, key, poll, tolerance)


class Session:
    """One unlocked transmission on one link: frames out over the four TX
    channels, replies back from the four RX channels."""

    def __init__(self, link: BleLink) -> None:
        self.link = link
        self._rx = Reassembler()
        self._replies: asyncio.Queue[bytes | ProtocolError] = asyncio.Queue()
        self._unlock: asyncio.Queue[bytes] = asyncio.Queue()
        self.id_bytes = b""

    def _on_rx(self, channel: int) -> Callable[[bytes], None]:
        def feed(piece: bytes) -> None:
            try:
                whole = self._rx.feed(channel, piece)
            except ProtocolError as err:
                self._replies.put_nowait(err)
                return
            if whole is not None:
                self._replies.put_nowait(whole)

        return feed

    async def listen_unlock(self) -> None:
        await self.link.subscribe(frames.UNLOCK, self._unlock.put_nowait)

    async def unlock_request(self, frame: bytes, *, timeout_s: float = UNLOCK_TIMEOUT_S) -> bytes:
        """Write to the unlock characteristic; the first two bytes of its answer."""
        while not self._unlock.empty():
            self._unlock.get_nowait()
        await self.link.write(frames.UNLOCK, frame)
        answer = await self.link.wait(
            "the monitor's unlock answer", self._unlock.get(), timeout_s=timeout_s
        )
        return answer[:2]

    async def open(self, key: bytes) -> None:
        await self.listen_unlock()
        answer = await self.unlock_request(unlock_frame(UnlockOp.UNLOCK, key))
        if answer != frames.UNLOCK_OK:
            raise DeviceConnectionError(
                f"the monitor refused this station's key (answered {answer.hex(' ')}): "
                "it was paired with another phone or station since; pair it again",
                device=self.link.label,
                reason=KEY_REFUSED,
            )
        for channel, uuid in enumerate(frames.RX_CHANNELS):
            await self.link.subscribe(uuid, self._on_rx(channel))
        self.id_bytes = await self.transact(start_command())

    async def transact(self, request: Frame) -> bytes:
        raw = encode_frame(request)
        last: DeviceError | None = None
        for _attempt in range(ATTEMPTS):
            self._rx.clear()
            while not self._replies.empty():
                self._replies.get_nowait()
            for channel, piece in enumerate(split(raw)):
                await self.link.write(frames.TX_CHANNELS[channel], piece)
            try:
                reply = await self.link.wait(
                    f"the reply to {request.kind.name.lower()} {request.address:#06x}",
                    self._replies.get(),
                    timeout_s=REPLY_TIMEOUT_S,
                )
                if isinstance(reply, ProtocolError):
                    raise reply
                return check_reply(request, reply)
            except DeviceTimeoutError as err:
                last = err
            except ProtocolError as err:
                last = named(err, self.link.label)
            log.info("%s: %s; asking again", self.link.label, last)
        if last is None:  # pragma: no cover (ATTEMPTS ≥ 1)
            raise DeviceTimeoutError("no reply", device=self.link.label)
        raise last

    async def read(self, address: int, length: int) -> bytes:
        return await self.transact(read_command(address, length))

    async def write(self, address: int, data: bytes) -> None:
        await self.transact(write_command(address, data))

    async def end(self) -> None:
        await self.transact(end_command())


class OmronMonitor:
    """A :class:`drivers.base.BloodPressureMonitor` for Omron's BLE monitors."""

    MODEL = "Omron blood pressure monitor"

    def __init__(
        self,
        *,
        address: str | None,
        backend: BleBackend,
        options: BleOptions,
        omron: OmronOptions,
    ) -> None:
        self.address = address
        self.backend = backend
        self.options = options
        self.omron = omron
        self.layout: ModelLayout | None = None if omron.model is None else layout_for(omron.model)
        self._info = DeviceInfo(
            model=omron.model or self.MODEL, transport=backend.transport, address=address or ""
        )
        self._link: BleLink | None = None
        self._returned: set[tuple[int, OmronRecord]] = set()
        self.battery_percent: int | None = None
        self.clock_drift_s: float | None = None
        """Device clock − station clock at the last session (None: unknown)."""
        self.clock_set_at: datetime | None = None
        self.skipped = 0
        """Records the last download left out (implausible values)."""
        self.window = StepWindow(self.MODEL)
        self._step_started: datetime | None = None
        self._step_baseline: list[int | None] = []
        """The write pointer at the step's first session (empty: not read yet)."""
        self._kept: set[tuple[int, OmronRecord]] = set()

    @property
    def info(self) -> DeviceInfo:
        return self._info

    async def begin_step(self) -> None:
        """The visit's step begins: records made before now, and the write
        pointer read at the step's first session, bound what is this visit's."""
        self.window.begin()
        self._step_started = datetime.now(self.options.tz)
        self._step_baseline = []

    def take_memory(self) -> list[DeviceMemoryRecord]:
        return self.window.take()

    def _keep(self, record: OmronRecord, reason: MemoryReason) -> None:
        key = (self.omron.user, record)
        if key in self._kept or key in self._returned:
            return
        self._kept.add(key)
        try:
            self.window.keep(self._reading(record, strict=False), reason)
        except MeasurementError as err:
            log.info("%s: stored record not kept: %s", self.label, err)

    @property
    def label(self) -> str:
        return self._info.label

    # --- sessions ----------------------------------------------------------------
    @asynccontextmanager
    async def _connected(self, *, scan_timeout_s: float) -> AsyncIterator[BleLink]:
        device = await find_device(
            service_uuid=None if self.address else frames.SERVICE,
            address=self.address,
            backend=self.backend,
            timeout_s=self.options.scan_timeout_s or scan_timeout_s,
            label=self._info.model,
        )
        link = BleLink(device, backend=self.backend, label=self._info.model)
        self._link = link
        try:
            await link.connect(timeout_s=self.options.connect_timeout_s)
            if not link.has(frames.UNLOCK):
                raise ProtocolError(
                    "no Omron service on this device (another device at this address, or "
                    "BlueZ's attribute cache is stale: remove the device and pair again)",
                    device=link.label,
                    reason="omron_service_missing",
                )
            self._info = await link.read_device_info(model_fallback=self._info.model)
            if self.layout is None:
                self.layout = layout_from_model_number(self._info.model)
                if self.layout is None:
                    raise ConfigError(
                        f"the monitor says it is {self._info.model!r}, a model whose memory "
                        "layout is not known: set devices.blood_pressure.options.model",
                        key="devices.blood_pressure.options.model",
                    )
            elif not self._info.model.upper().startswith(self.layout.model):
                log.warning("%s: configured as %s", self.label, self.layout.model)
            self.battery_percent = await link.read_battery_level()
            yield link
        finally:
            await link.close()
            self._link = None

    @asynccontextmanager
    async def _session(self, *, scan_timeout_s: float) -> AsyncIterator[Session]:
        async with self._connected(scan_timeout_s=scan_timeout_s) as link:
            session = Session(link)
            await session.open(self.omron.key)
            yield session
            await session.end()

    def _layout(self) -> ModelLayout:
        if self.layout is None:  # resolved at the first connection
            raise ConfigError(
                "the Omron model is not known yet", key="devices.blood_pressure.options.model"
            )
        return self.layout

    def _user_area(self) -> tuple[int, int]:
        area = self._layout().user(self.omron.user)
        return area.start, area.capacity

    async def _unread(self, session: Session) -> UnreadSection | None:
        layout = self._layout()
        if layout.unread_size is None:
            return None
        raw = await session.read(layout.settings_read, layout.unread_size)
        try:
            return decode_unread(raw, layout)
        except ProtocolError as err:
            raise named(err, self.label) from None

    async def _clock(self, session: Session) -> ClockDrift | None:
        """Read the clock section (timed on its own), keep the drift, and set
        the clock when allowed and needed."""
        layout = self._layout()
        if layout.time is None:
            self.clock_drift_s = None
            return None
        address = layout.settings_read + layout.time_offset
        tz = self.options.tz
        before = datetime.now(tz)
        raw = await session.read(address, layout.time_size)
        after = datetime.now(tz)
        try:
            section = decode_time(raw, layout)
        except ProtocolError as err:
            # A clock that reads no real time (batteries changed, a bad sum) is
            # not a reason to refuse the records: its drift is unknown.
            log.warning("%s: device clock unreadable: %s (%s)", self.label, err, raw.hex(" "))
            self.clock_drift_s = None
            return None
        drift = measure_drift(section.when.replace(tzinfo=tz), before=before, after=after)
        self.clock_drift_s = drift.drift_s
        log.info("%s: device clock %+.0f s from the station's", self.label, drift.drift_s)
        if (
            self.options.may_set_clock()
            and layout.clock_verified
            and abs(drift.drift_s) > CLOCK_FIX_S
        ):
            now = datetime.now(tz)
            wall = now.replace(tzinfo=None, microsecond=0)
            fixed = encode_time(TimeSection(wall, section.kept, section.spare), layout)
            await session.write(layout.settings_write + layout.time_offset, fixed)
            self.clock_set_at = now
            log.info("%s: device clock set to %s", self.label, now.isoformat(timespec="seconds"))
        return drift

    async def _read_slots(
        self,
        session: Session,
        slots: list[int],
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[tuple[int, OmronRecord]]:
        layout = self._layout()
        start, _capacity = self._user_area()
        out: list[tuple[int, OmronRecord]] = []
        done = 0
        for run in runs(slots, start=start, record_size=layout.record_size):
            for address, length in read_commands(
                run, record_size=layout.record_size, block=layout.read_block
            ):
                data = await session.read(address, length)
                for i in range(0, length, layout.record_size):
                    slot = (address - start + i) // layout.record_size
                    raw = data[i : i + layout.record_size]
                    try:
                        record = decode_record(raw, layout)
                    except ProtocolError as err:
                        raise named(err, self.label) from None
                    if record is not None:
                        out.append((slot, record))
                    done += 1
                if on_progress is not None:
                    on_progress(done, len(slots))
        return out

    # --- pairing -------------------------------------------------------------------
    async def pair(
        self, *, window_s: float = PAIRING_WINDOW_S, on_step: Callable[[Step], None] | None = None
    ) -> DeviceInfo:
        """Bond with the monitor and program this station's unlock key (in the
        monitor's pairing window: -P- blinking)."""
        await self.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + window_s

        async def program_key(link: BleLink) -> None:
            session = Session(link)
            await session.listen_unlock()
            answer = b""
            for _try in range(KEY_PROGRAMMING_TRIES):
                answer = await session.unlock_request(unlock_frame(UnlockOp.ENTER_KEY_PROGRAMMING))
                if answer == frames.KEY_PROGRAMMING_READY or loop.time() >= deadline:
                    break
                await asyncio.sleep(min(1.0, max(0.0, deadline - loop.time())))
            if answer != frames.KEY_PROGRAMMING_READY:
                raise DeviceConnectionError(
                    f"the monitor would not take a key (answered {answer.hex(' ')}): "
                    "is -P- blinking on it?",
                    device=link.label,
                    reason=PAIRING_FAILED,
                )
            answer = await session.unlock_request(
                unlock_frame(UnlockOp.PROGRAM_KEY, self.omron.key)
            )
            if answer != frames.KEY_STORED:
                raise DeviceConnectionError(
                    f"the monitor did not store the key (answered {answer.hex(' ')})",
                    device=link.label,
                    reason=PAIRING_FAILED,
                )
            # omblepy: one transmission right after programming, needed when
            # the monitor had never been paired.
            await session.open(self.omron.key)
            await session.end()

        paired = await pair_device(
            # by address when known: whether cuffs advertise the vendor
            # service is not documented
            service_uuid=None if self.address else frames.SERVICE,
            address=self.address,
            backend=self.backend,
            label=self._info.model,
            window_s=window_s,
            connect_timeout_s=self.options.connect_timeout_s,
            device_step=program_key,
            on_step=on_step,
        )
        self._info = paired.info
        if self.layout is None:
            self.layout = layout_from_model_number(paired.info.model)
        return paired.info

    # --- measure -------------------------------------------------------------------
    async def measure(
        self,
        *,
        on_cuff_pressure: Callable[[CuffPressure], None] | None = None,
        timeout_s: float = 180.0,
    ) -> BloodPressureMeasurement:
        """The measurement the elder makes now (see the module's contract)."""
        if self._step_started is None:
            await self.begin_step()
        started = self._step_started or datetime.now(self.options.tz)
        baseline = self._step_baseline
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    reading = await self._look_for_new(started, baseline, timeout_s)
                    if reading is not None:
                        return reading
                    await asyncio.sleep(self.omron.poll_interval_s)
        except DeviceError:
            raise
        except TimeoutError:
            raise DeviceTimeoutError(
                f"no new measurement within {timeout_s:.0f} s", device=self.label
            ) from None

    def _after_baseline(self, when: datetime, started: datetime) -> bool:
        if self.clock_drift_s is None:
            return False
        corrected = when - timedelta(seconds=self.clock_drift_s)
        return corrected >= started - timedelta(seconds=self.omron.baseline_tolerance_s)

    async def _look_for_new(
        self, started: datetime, baseline: list[int | None], timeout_s: float
    ) -> BloodPressureMeasurement | None:
        """One session. A record counts when it is the newest in the user's
        memory and either was stored after the first session of this
        ``measure()`` (the write slot moved: made after it began) or, at the
        first session, was made after ``started`` on the station's clock."""
        first = not baseline
        async with self._connected(scan_timeout_s=timeout_s) as link:
            if link.has(uuids.BLOOD_PRESSURE_MEASUREMENT):
                if first:
                    baseline.append(None)
                return await self._standard(link, started, first=first)
            session = Session(link)
            await session.open(self.omron.key)
            section = await self._unread(session)
            if section is None:
                raise ConfigError(
                    f"{self._layout().model}: where its newest record is is not documented, "
                    "so measure() cannot tell a new record from an old one (use the memory "
                    "download)",
                    key="devices.blood_pressure.driver",
                )
            await self._clock(session)
            write_slot = section.write_slot(self.omron.user)
            if first:
                baseline.append(write_slot)
            moved = not first and write_slot != baseline[0]
            judged_by_time = first and self.clock_drift_s is not None
            found: OmronRecord | None = None
            if write_slot and (moved or judged_by_time):
                _start, capacity = self._user_area()
                got = await self._read_slots(
                    session, [newest_slot(write_slot=write_slot, capacity=capacity)]
                )
                if got:
                    record = got[0][1]
                    when = record.when.replace(tzinfo=self.options.tz)
                    if moved or self._after_baseline(when, started):
                        found = record
                    elif first:
                        self._keep(record, MemoryReason.BEFORE_STEP)
            await session.end()
        if found is None:
            return None
        baseline[0] = write_slot  # the next measurement of the step must move it again
        self._returned.add((self.omron.user, found))
        return self._reading(found, strict=True)

    async def _standard(
        self, link: BleLink, started: datetime, *, first: bool
    ) -> BloodPressureMeasurement | None:
        """The standard path: the monitor indicates the records it has not sent
        this way yet. After the first session those are new; at the first,
        only those made after ``started`` (the drift taken off) count."""
        drift = await link.read_clock_drift(self.options.tz)
        self.clock_drift_s = None if drift is None else drift.drift_s
        values: asyncio.Queue[bytes] = asyncio.Queue()
        await link.subscribe(uuids.BLOOD_PRESSURE_MEASUREMENT, values.put_nowait)
        raws: list[bytes] = []
        while True:
            try:
                raws.append(
                    await link.wait(
                        "a stored measurement", values.get(), timeout_s=STANDARD_QUIET_S
                    )
                )
            except DeviceTimeoutError:
                break
        best: BloodPressureMeasurement | None = None
        for raw in raws:
            try:
                record = decode_measurement(raw)
            except BpsCodecError as err:
                raise named(err, self.label) from None
            if record.user_id not in (None, self.omron.user):
                continue
            if record.timestamp is None:
                log.info("%s: a record without a time cannot be placed; left out", self.label)
                continue
            when = record.timestamp.to_datetime(self.options.tz)
            if when is None or (first and not self._after_baseline(when, started)):
                try:
                    stored = bps_reading(record, device=self._info, tz=self.options.tz)
                except MeasurementError:
                    continue
                self.window.keep(stored, MemoryReason.STORED_AT_CONNECT)
                continue
            reading = bps_reading(record, device=self._info, tz=self.options.tz)
            if best is None or (reading.device_time or when) >= (best.device_time or when):
                best = reading
        return best

    def _reading(self, record: OmronRecord, *, strict: bool) -> BloodPressureMeasurement:
        if strict and record.movement:
            raise MeasurementError(
                "monitor reports body movement",
                problem=MeasurementProblem.BODY_MOVEMENT,
                device=self.label,
            )
        for name, value in (
            ("systolic", record.systolic),
            ("diastolic", record.diastolic),
            ("pulse", record.pulse),
        ):
            if not 0 < value < DEVICE_LIMIT:
                raise MeasurementError(
                    f"{name} {value} is outside what a monitor can measure",
                    problem=MeasurementProblem.OUT_OF_RANGE,
                    device=self.label,
                )
        return BloodPressureMeasurement(
            systolic_mmhg=record.systolic,
            diastolic_mmhg=record.diastolic,
            pulse_bpm=record.pulse,
            device=self._info,
            device_time=record.when.replace(tzinfo=self.options.tz),
            status=BloodPressureStatus(
                body_movement=record.movement, irregular_pulse=record.irregular_heartbeat
            ),
            user_id=self.omron.user,
        )

    # --- download ------------------------------------------------------------------
    async def download(
        self,
        *,
        after_sequence: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        everything: bool = False,
    ) -> list[BloodPressureMeasurement]:
        """The station's user's records not read yet (``everything``: all of
        them, nothing written), oldest first."""
        if after_sequence is not None:
            raise ConfigError(
                "Omron monitors number no records: the download reads the "
                "records not read yet (or everything)"
            )
        try:
            async with self._session(scan_timeout_s=DEFAULT_SCAN_TIMEOUT_S) as session:
                records = await self._download(session, on_progress, everything=everything)
        except DeviceConnectionError as err:
            if err.reason == "link_lost":
                raise DownloadInterrupted(
                    "link lost during the memory download; nothing was marked read, download again",
                    records=[],
                    device=self.label,
                ) from err
            raise
        readings = []
        self.skipped = 0
        for record in records:
            if (self.omron.user, record) in self._returned:
                continue
            try:
                readings.append(self._reading(record, strict=False))
            except MeasurementError as err:
                self.skipped += 1
                log.warning("%s: record left out: %s", self.label, err)
        return readings

    async def _download(
        self,
        session: Session,
        on_progress: Callable[[int, int], None] | None,
        *,
        everything: bool,
    ) -> list[OmronRecord]:
        layout = self._layout()
        _start, capacity = self._user_area()
        section = await self._unread(session)
        await self._clock(session)
        counter = section is not None and layout.counter_verified and not everything
        if counter and section is not None:
            user = self.omron.user
            slots = new_slots(
                write_slot=section.write_slot(user), unread=section.unread(user), capacity=capacity
            )
        else:
            oldest = 0 if section is None else section.write_slot(self.omron.user)
            slots = [(oldest + i) % capacity for i in range(capacity)]
            if not everything:
                log.info(
                    "%s: the unread counter of %s is not verified: reading every record",
                    self.label,
                    layout.model,
                )
        got = await self._read_slots(session, slots, on_progress)
        if counter and section is not None and slots:
            marked = encode_unread(section.marked_read(self.omron.user), layout)
            await session.write(layout.settings_write, marked)
        log.info("%s: %d records read from user %d", self.label, len(got), self.omron.user)
        return [record for _slot, record in got]

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await link.close()


def named(err: ProtocolError, device: str) -> ProtocolError:
    """The same protocol error, naming ``device`` (its reason and values kept)."""
    if isinstance(err, InvalidChecksum):
        return InvalidChecksum(wire=err.wire, calculated=err.calculated, raw=err.raw, device=device)
    out = naming(err, device)
    out.reason = err.reason
    return out


@asynccontextmanager
async def open_device(
    *,
    port: str | None = None,
    address: str | None = None,
    options: Mapping[str, Any] | None = None,
    backend: BleBackend | None = None,
) -> AsyncIterator[OmronMonitor]:
    """The registry's opener (see drivers/registry.py). Options beyond the
    common BLE ones: ``model`` (e.g. "HEM-7361T"; else from the monitor's
    Device Information), ``user`` (1 or 2), ``key`` (32 hex digits),
    ``poll_interval_s``, ``baseline_tolerance_s``."""
    opts = BleOptions.parse(options)
    omron = OmronOptions.parse(opts.extra)
    async with open_on_link(
        lambda addr, via: OmronMonitor(address=addr, backend=via, options=opts, omron=omron),
        address=address,
        backend=backend,
    ) as device:
        yield device
