"""Every serial driver end to end against its pty emulator, faults included."""

from __future__ import annotations

import asyncio
import os
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from drivers.idcard import sam_frame as sf
from drivers.idcard.sam_reader import open_device as open_idcard
from drivers.serial import lifescan_binary as lb
from drivers.serial import lifescan_text as lt
from drivers.serial import lineformat as lf
from drivers.serial.linemonitor import open_blood_pressure, open_glucose
from drivers.serial.otultra2 import open_device as open_ultra2
from drivers.serial.otultraeasy import open_device as open_ultraeasy
from drivers.serial.transport import SerialLink
from emulation import twins
from healthkiosk.errors import (
    DeviceConnectionError,
    DeviceError,
    DeviceTimeoutError,
    DownloadInterrupted,
    InvalidChecksum,
    MeasurementError,
    MeasurementProblem,
)

pytestmark = pytest.mark.timeout(60)

FAST = {"poll_interval_s": 0.05, "response_timeout_s": 0.5}
METERS = ("onetouch-ultra2", "onetouch-ultraeasy")
"""The meters' drivers, connected to their twins by ``twins.connect(name, ...)``."""


def opts(emulator: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {**FAST, **extra, "emulator": emulator or {}}


def lopts(emulator: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"response_timeout_s": 0.5, **extra, "emulator": emulator or {}}


# --- LifeScan meters --------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(METERS))
async def test_meter_measure_full_and_incremental_download(name: str) -> None:
    async with twins.connect(name, options=opts({"records": 40})) as meter:
        assert meter.info.serial and meter.info.firmware
        assert not meter.clock_was_set
        full = await meter.download()
        assert [r.sequence_number for r in full] == list(range(40))
        times = [r.device_time for r in full]
        assert times == sorted(times) and all(t is not None and t.tzinfo for t in times)
        reading = await meter.measure(timeout_s=10)
        assert reading.sequence_number == 40 and reading.out_of_range is None
        assert reading.original_unit == "mg/dL"
        assert abs(reading.mmol_per_l - reading.original_value / 18.016) < 0.05
        newer = await meter.download(after_sequence=full[-1].sequence_number)
        assert newer == [reading]
        assert await meter.download(after_sequence=40) == []
        assert await meter.download(after_time=full[-1].device_time) == [reading]


@pytest.mark.parametrize("name", sorted(METERS))
async def test_meter_full_memory_of_500(name: str) -> None:
    async with twins.connect(name, options=opts({"records": 500, "measure_after_s": None})) as m:
        records = await m.download()
        assert len(records) == 500


@pytest.mark.parametrize("name", sorted(METERS))
async def test_meter_wrong_clock_is_set(name: str) -> None:
    async with twins.connect(name, options=opts({"fault": "wrong_clock"})) as meter:
        assert meter.clock_was_set
        reading = await meter.measure(timeout_s=10)
        assert reading.device_time is not None
        assert abs((reading.device_time - datetime.now(UTC)).total_seconds()) < 120


@pytest.mark.parametrize("name", sorted(METERS))
@pytest.mark.parametrize(("which", "flag"), [("LO", "LO"), ("HI", "HI")])
async def test_meter_lo_hi(name: str, which: str, flag: str) -> None:
    emu = {"fault": "out_of_range", "out_of_range": which}
    async with twins.connect(name, options=opts(emu)) as meter:
        reading = await meter.measure(timeout_s=10)
        assert reading.out_of_range == flag


@pytest.mark.parametrize("name", sorted(METERS))
async def test_meter_checksum_fault(name: str) -> None:
    async with twins.connect(name, options=opts({"fault": "checksum"})) as meter:
        with pytest.raises(InvalidChecksum) as info:
            await meter.download()
        assert info.value.device == meter.info.label and info.value.wire != info.value.calculated


@pytest.mark.parametrize("name", sorted(METERS))
async def test_meter_garbage_is_skipped(name: str) -> None:
    async with twins.connect(name, options=opts({"fault": "garbage", "records": 10})) as m:
        assert len(await m.download()) == 10


async def test_ultra2_device_error_record_is_no_reading() -> None:
    async with twins.connect("onetouch-ultra2", options=opts({"fault": "device_error"})) as meter:
        with pytest.raises(MeasurementError) as info:
            await meter.measure(timeout_s=10)
        assert info.value.problem is MeasurementProblem.DEVICE_ERROR


async def test_ultraeasy_device_refusal() -> None:
    options = opts({"fault": "device_error"})
    async with twins.connect("onetouch-ultraeasy", options=options) as meter:
        with pytest.raises(lb.MeterRefused):
            await meter.download()


@pytest.mark.parametrize("name", sorted(METERS))
async def test_meter_drop_mid_measurement(name: str) -> None:
    async with twins.connect(name, options=opts({"fault": "drop_measurement"})) as meter:
        with pytest.raises(DeviceConnectionError):
            await meter.measure(timeout_s=10)


async def test_ultraeasy_test_completing_between_count_and_record_keeps_its_own_number() -> None:
    """The meter is polled with two requests (the count, then the newest record);
    a test that completes between them is still numbered by its own count."""
    options = opts({"records": 3, "measure_after_s": None})
    async with (
        twins.start("onetouch-ultraeasy", options=options) as twin,
        twins.open_driver(twin, options=options) as meter,
    ):
        await meter.begin_step()
        emulator = twin.emulator
        answer = emulator.answer
        tested = False

        def answer_then_test(message: bytes) -> tuple[bytes | None, bool]:
            nonlocal tested
            reply = answer(message)
            if message == lb.record_request(lb.COUNT_RECORD) and not tested:
                tested = True  # the elder's test lands just after the count went out
                emulator.memory.insert(0, lb.EasyRecord(emulator.clock(), 142))
            return reply

        emulator.answer = answer_then_test  # type: ignore[method-assign]
        reading = await meter.measure(timeout_s=5)
    assert tested
    assert reading.original_value == 142
    assert reading.sequence_number == 3  # the fourth record, numbered from 0


async def test_ultraeasy_drop_mid_download_keeps_and_resumes_after_replug() -> None:
    emu = {"fault": "drop_download", "records": 20, "replug_after_s": 0.3, "measure_after_s": None}
    async with twins.connect("onetouch-ultraeasy", options=opts(emu, reconnect_max_s=5)) as meter:
        with pytest.raises(DownloadInterrupted) as info:
            await meter.download()
        kept = info.value.records
        assert 0 < len(kept) < 20
        assert [r.sequence_number for r in kept] == list(range(len(kept)))  # type: ignore[attr-defined]
        rest = await meter.download(after_sequence=kept[-1].sequence_number)  # type: ignore[attr-defined]
        assert [r.sequence_number for r in rest] == list(range(len(kept), 20))


async def test_ultra2_drop_mid_download_keeps_nothing_then_reconnects() -> None:
    emu = {"fault": "drop_download", "records": 20, "replug_after_s": 0.3, "measure_after_s": None}
    async with twins.connect("onetouch-ultra2", options=opts(emu, reconnect_max_s=5)) as meter:
        with pytest.raises(DownloadInterrupted) as info:
            await meter.download()
        assert info.value.records == []
        assert len(await meter.download()) == 20


# --- line-format devices ----------------------------------------------------------------

BP_FORMATS = ["bp-csv-sum8", "bp-stx-xor", "bp-semicolon-kpa"]


@pytest.mark.parametrize("fmt", BP_FORMATS)
async def test_line_bp_measurement(fmt: str) -> None:
    cuff: list[int] = []
    async with twins.connect("serial-line-bp", options=lopts(format=fmt)) as monitor:
        reading = await monitor.measure(
            timeout_s=10, on_cuff_pressure=lambda c: cuff.append(int(c.mmhg))
        )
    assert (reading.systolic_mmhg, reading.diastolic_mmhg, reading.pulse_bpm) == (128, 82, 71)
    assert reading.original_unit == ("kPa" if "kpa" in fmt else "mmHg")
    if fmt == "bp-csv-sum8":
        assert cuff == [40, 120, 160, 140, 100]
        assert reading.device_time is not None


async def test_line_bp_wrong_clock_time_not_used() -> None:
    async with twins.connect("serial-line-bp", options=lopts({"fault": "wrong_clock"})) as m:
        reading = await m.measure(timeout_s=10)
    assert reading.device_time is None


@pytest.mark.parametrize("fmt", BP_FORMATS)
@pytest.mark.parametrize(
    ("fault", "error", "problem"),
    [
        ("checksum", InvalidChecksum, None),
        ("out_of_range", MeasurementError, MeasurementProblem.OUT_OF_RANGE),
        ("drop_measurement", DeviceConnectionError, None),
        ("noise", DeviceTimeoutError, None),
    ],
)
async def test_line_bp_faults(fmt: str, fault: str, error: type[Exception], problem: Any) -> None:
    emu = {"fault": fault, "noise_bytes": 65536}
    async with twins.connect("serial-line-bp", options=lopts(emu, format=fmt)) as monitor:
        with pytest.raises(error) as info:
            await monitor.measure(timeout_s=2)
    if problem is not None:
        assert info.value.problem is problem  # type: ignore[attr-defined]
    if fault == "checksum":
        assert info.value.device == monitor.info.label  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fmt", "problem"), [("bp-csv-sum8", "cuff_fit"), ("bp-stx-xor", "cuff_fit")]
)
async def test_line_bp_device_error_code(fmt: str, problem: str) -> None:
    async with twins.connect(
        "serial-line-bp", options=lopts({"fault": "device_error"}, format=fmt)
    ) as m:
        with pytest.raises(MeasurementError) as info:
            await m.measure(timeout_s=5)
    assert info.value.problem.value == problem and info.value.code


async def test_line_bp_garbage_lines_skipped() -> None:
    async with twins.connect("serial-line-bp", options=lopts({"fault": "garbage"})) as monitor:
        assert (await monitor.measure(timeout_s=5)).systolic_mmhg == 128


async def test_line_glucose_1000_records_full_and_incremental() -> None:
    options = lopts({"records": 1000, "measure_after_s": None})
    async with (
        twins.start("serial-line-glucose", options=options) as twin,
        twins.open_driver(twin, options=options) as meter,
    ):
        full = await meter.download()
        assert [r.sequence_number for r in full] == list(range(1, 1001))
        await meter.begin_step()  # the visit's step, then the elder's test
        twin.emulator.schedule_measurement(0.3)
        reading = await meter.measure(timeout_s=10)
        assert reading.sequence_number == 1001
        newer = await meter.download(after_sequence=1000)
        assert [r.sequence_number for r in newer] == [1001]
        assert newer[0].mmol_per_l == reading.mmol_per_l


async def test_emulators_repeat_measurements_for_the_demo() -> None:
    emu = {"measure_after_s": 0.5, "repeat_after_s": 0.5, "records": 3}
    async with twins.connect("onetouch-ultraeasy", options=opts(emu)) as meter:
        first = await meter.measure(timeout_s=5)
        second = await meter.measure(timeout_s=5)
    assert first.sequence_number is not None and first.sequence_number >= 3
    # each measure() returns a test newer than any stored when it started
    assert second.sequence_number is not None and second.sequence_number > first.sequence_number
    async with twins.connect("serial-line-bp", options=lopts(emu)) as monitor:
        assert (await monitor.measure(timeout_s=5)).systolic_mmhg == 128
        assert (await monitor.measure(timeout_s=5)).systolic_mmhg == 128


@pytest.mark.parametrize("which", ["LO", "HI"])
async def test_line_glucose_lo_hi(which: str) -> None:
    emu = {"fault": "out_of_range", "out_of_range": which}
    async with twins.connect("serial-line-glucose", options=lopts(emu)) as meter:
        assert (await meter.measure(timeout_s=10)).out_of_range == which


async def test_line_glucose_device_error() -> None:
    options = lopts({"fault": "device_error"})
    async with twins.connect("serial-line-glucose", options=options) as meter:
        with pytest.raises(MeasurementError) as info:
            await meter.measure(timeout_s=5)
    assert info.value.problem is MeasurementProblem.STRIP_ERROR


async def test_line_glucose_drop_mid_download_keeps_the_oldest() -> None:
    emu = {"fault": "drop_download", "records": 50, "measure_after_s": None}
    async with twins.connect("serial-line-glucose", options=lopts(emu)) as meter:
        with pytest.raises(DownloadInterrupted) as info:
            await meter.download()
    kept = [r.sequence_number for r in info.value.records]  # type: ignore[attr-defined]
    # what arrived before the adapter went is kept, oldest first, without a gap
    # (bytes still in the kernel's buffers when it goes are lost, as on a real adapter)
    assert 0 < len(kept) <= 25 and kept == list(range(1, len(kept) + 1))


# --- ID card reader ------------------------------------------------------------------------


async def test_idcard_read() -> None:
    async with twins.connect("sam-idcard", options={"emulator": {}}) as reader:
        card = await reader.read_card(timeout_s=5)
    assert (card.name, card.sex, card.nation, card.birth_date) == (
        "王小明",
        "male",
        "汉",
        "1950-03-07",
    )
    assert card.valid_to == "长期" and card.id_number.startswith("110101")
    assert card.id_number not in repr(card)


@pytest.mark.parametrize(
    ("fault", "error", "reason"),
    [
        ("no_card", DeviceTimeoutError, "no_card"),
        ("card_removed", DeviceError, "card_removed"),
        ("device_error", DeviceError, "device_error"),
        ("checksum", InvalidChecksum, "invalid_checksum"),
        ("drop_measurement", DeviceConnectionError, "link_lost"),
    ],
)
async def test_idcard_faults(fault: str, error: type[Exception], reason: str) -> None:
    async with twins.connect("sam-idcard", options={"emulator": {"fault": fault}}) as reader:
        with pytest.raises(error) as info:
            await reader.read_card(timeout_s=1.5)
    assert info.value.reason == reason  # type: ignore[attr-defined]


async def test_idcard_garbage_is_skipped() -> None:
    async with twins.connect("sam-idcard", options={"emulator": {"fault": "garbage"}}) as reader:
        assert (await reader.read_card(timeout_s=5)).name == "王小明"


# --- transport ----------------------------------------------------------------------------


async def test_one_owner_per_port() -> None:
    async with twins.connect("onetouch-ultra2", options=opts()) as meter:
        second = SerialLink(meter.link.path)
        with pytest.raises(DeviceConnectionError) as info:
            await second.open()
        assert info.value.reason == "port_busy"


async def test_missing_port_is_not_found() -> None:
    from healthkiosk.errors import DeviceNotFoundError

    with pytest.raises(DeviceNotFoundError):
        async with open_ultra2(port="/nonexistent/ttyUSB9", options=opts()):
            pass


# --- one megabyte of random bytes ------------------------------------------------------------

SEED = int(os.environ.get("HK_FUZZ_SEED", random.randrange(1 << 32)))
MEGABYTE = 1 << 20


def test_megabyte_through_every_framer() -> None:
    print(f"fuzz seed {SEED} (set HK_FUZZ_SEED to repeat)")
    rng = random.Random(SEED)
    data = rng.randbytes(MEGABYTE)
    chunks = []
    at = 0
    while at < len(data):
        n = rng.randint(1, 4096)
        chunks.append(data[at : at + n])
        at += n
    # Ultra 2: no line may pass as a record
    framer = lt.LineFramer()
    records = 0
    for chunk in chunks:
        for line in framer.feed(chunk):
            try:
                lt.parse_record(lt.parse_line(line))
                records += 1
            except lt.UltraTextError:
                pass
    assert records == 0
    # LifeScan binary: no packet may yield a glucose record
    pframer = lb.PacketFramer()
    for chunk in chunks:
        for packet in pframer.feed(chunk):
            with pytest.raises(lb.LifeScanBinaryError):
                lb.parse_record(packet.message)
    # SAM frames: nothing passes
    sframer = sf.SamFramer()
    assert [f for c in chunks for f in sframer.feed(c)] == []
    # every line format: no record from garbage
    for name in lf.shipped_formats():
        fmt = lf.load_format(name)
        codec = lf.LineCodec(fmt)
        lframer = lf.LineFramer(fmt.terminator_bytes)
        for chunk in chunks:
            for line in lframer.feed(chunk):
                try:
                    event = codec.decode(line)
                except lf.LineFormatError:
                    continue
                assert not isinstance(event, lf.LineRecord), (name, line)


def _emulator(name: str, emu: dict[str, Any]) -> Any:
    from emulation.idcard.sam_reader import SamReaderEmulator
    from emulation.serial.device import EmulatorOptions
    from emulation.serial.linemonitor import LineEmulator
    from emulation.serial.otultra2 import Ultra2Emulator
    from emulation.serial.otultraeasy import UltraEasyEmulator

    options = EmulatorOptions.model_validate(emu)
    if name.startswith(("bp-", "glucose-")):
        return LineEmulator(options, lf.load_format(name))
    return {
        "onetouch-ultra2": Ultra2Emulator,
        "onetouch-ultraeasy": UltraEasyEmulator,
        "sam-idcard": SamReaderEmulator,
    }[name](options)


OPENERS: dict[str, Any] = {
    "onetouch-ultra2": open_ultra2,
    "onetouch-ultraeasy": open_ultraeasy,
    "sam-idcard": open_idcard,
}


@pytest.mark.parametrize("name", sorted(OPENERS))
async def test_megabyte_of_noise_through_driver(name: str) -> None:
    """The device answers with one stream of 1 MiB of random bytes: the driver
    tries again after each clear error until the whole stream has gone
    through it, and never makes a reading."""
    print(f"noise seed {SEED} (set HK_FUZZ_SEED to repeat)")
    emulator = _emulator(name, {"fault": "noise", "seed": SEED})
    errors: list[str] = []
    async with emulator.running() as port:
        while emulator.noise_sent < MEGABYTE or not errors:
            with pytest.raises((DeviceTimeoutError, DeviceError)) as info:
                async with OPENERS[name](port=port, options={"response_timeout_s": 1.0}) as device:
                    await device.read_card(timeout_s=5)  # only the reader gets this far
            errors.append(type(info.value).__name__)
            assert len(errors) < 200
    assert emulator.noise_sent == MEGABYTE
    print(f"{name}: {len(errors)} attempts, errors {sorted(set(errors))}")


@pytest.mark.parametrize("fmt", [*BP_FORMATS, "glucose-seq-crc16"])
async def test_megabyte_of_noise_through_line_driver(fmt: str) -> None:
    print(f"noise seed {SEED} (set HK_FUZZ_SEED to repeat)")
    emulator = _emulator(fmt, {"fault": "noise", "seed": SEED, "measure_after_s": 0})
    opener = open_glucose if fmt.startswith("glucose") else open_blood_pressure
    async with emulator.running() as port, opener(port=port, options={"format": fmt}) as device:
        with pytest.raises((DeviceTimeoutError, InvalidChecksum)):
            await device.measure(timeout_s=3)
    assert emulator.noise_sent == MEGABYTE


# --- reconnect, timeouts, privacy ---------------------------------------------------------


async def test_line_bp_reconnects_after_replug() -> None:
    emu = {"fault": "drop_measurement", "replug_after_s": 0.3, "measure_after_s": 0.2}
    emulator = _emulator("bp-csv-sum8", emu)
    async with emulator.running() as port, open_blood_pressure(port=port, options=lopts()) as m:
        with pytest.raises(DeviceConnectionError):
            await m.measure(timeout_s=5)
        assert not m.link.is_open
        for _ in range(100):
            if emulator.link.plugged:
                break
            await asyncio.sleep(0.02)
        emulator.schedule_measurement(0.2)  # the elder measures again on the re-plugged monitor
        reading = await m.measure(timeout_s=5)
        assert reading.systolic_mmhg == 128 and m.link.is_open


async def test_idcard_reconnects_after_replug() -> None:
    emulator = _emulator("sam-idcard", {"fault": "drop_measurement", "replug_after_s": 0.2})
    async with emulator.running() as port, open_idcard(port=port) as reader:
        with pytest.raises(DeviceConnectionError):
            await reader.read_card(timeout_s=5)
        assert (await reader.read_card(timeout_s=5)).name == "王小明"


async def test_adapter_that_never_comes_back() -> None:
    emulator = _emulator("sam-idcard", {"fault": "drop_measurement"})
    async with (
        emulator.running() as port,
        open_idcard(port=port, options={"reconnect_max_s": 0.5}) as reader,
    ):
        with pytest.raises(DeviceConnectionError):
            await reader.read_card(timeout_s=5)
        with pytest.raises(DeviceConnectionError) as info:
            await reader.read_card(timeout_s=5)
        assert info.value.reason == "reconnect_failed"


async def test_short_read_is_a_timeout_never_data() -> None:
    emulator = _emulator("onetouch-ultra2", {"measure_after_s": None})
    async with emulator.running() as port, SerialLink(port) as link:
        with pytest.raises(DeviceTimeoutError):
            await link.read_some(timeout_s=0.3)


async def test_card_with_a_bad_number_is_refused_and_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import dataclasses
    import logging

    from emulation.idcard.sam_reader import SAMPLE_CARD
    from healthkiosk.errors import IdNumberError

    bad = SAMPLE_CARD.id_number[:-1] + ("0" if SAMPLE_CARD.id_number[-1] != "0" else "1")
    emulator = _emulator("sam-idcard", {})
    emulator.card = dataclasses.replace(SAMPLE_CARD, id_number=bad)
    caplog.set_level(logging.DEBUG)
    async with emulator.running() as port, open_idcard(port=port) as reader:
        with pytest.raises(IdNumberError) as info:
            await reader.read_card(timeout_s=5)
    assert info.value.reason == "id_check_digit"
    assert not hasattr(info.value, "raw") or bad.encode("utf-16-le") not in info.value.raw
    assert bad not in str(info.value) and bad not in caplog.text
