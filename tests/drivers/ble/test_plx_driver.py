"""The standard Pulse Oximeter driver end to end against its emulated twin
(bumble backend, unchanged driver code), and its pure stability rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.ble.glucose import RacpFailed
from drivers.ble.ieee11073 import Nfloat, Special
from drivers.ble.link import BleBackend
from drivers.ble.plx import Stabiliser, StandardPulseOximeter, assess, spot_to_reading
from drivers.ble.plx_codec import (
    ContinuousRecord,
    DeviceStatus,
    MeasurementStatus,
    PlxCodecError,
    SpotCheckRecord,
)
from drivers.ble.racp import ResponseCode
from emulation.ble.peripheral import Fault
from emulation.ble.plx import PulseOximeterEmulator
from healthkiosk.errors import (
    DeviceConnectionError,
    DeviceError,
    DeviceTimeoutError,
    DownloadInterrupted,
    MeasurementError,
    MeasurementProblem,
)
from healthkiosk.readings import DeviceInfo, OximetryMode, Transport
from tests.support.ble import fast_options
from tests.support.strategies import continuous_records, spot_check_records

INFO = DeviceInfo(model="PLX", transport=Transport.BLE)


def oximeter(
    em: PulseOximeterEmulator, backend: BleBackend, **extra: object
) -> StandardPulseOximeter:
    options = {"stable_within_s": 1.0, **extra}
    return StandardPulseOximeter(
        address=em.address, backend=backend, options=fast_options(**options)
    )


# --- measurements ---------------------------------------------------------------


async def test_continuous_qualified_by_the_device(tz: ZoneInfo, backend: BleBackend) -> None:
    async with PulseOximeterEmulator(tz=tz, battery_percent=None) as em:
        device = oximeter(em, backend)
        reading = await device.measure(timeout_s=10)
    assert device.battery_percent is None  # no Battery Service: silently none
    assert device.features is not None and device.features.measurement_status_support
    assert (reading.spo2_percent, reading.pulse_bpm) == (97, 72)
    assert reading.mode is OximetryMode.CONTINUOUS and reading.device_time is None
    assert reading.pulse_amplitude_index is not None
    # the early estimates (3 frames) did not count: the 4th, fully qualified, did
    assert em.frames_sent >= 4
    assert reading.device.model == "PLX-EMU-1"


async def test_continuous_without_qualified_data_waits_for_five_steady_frames(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with PulseOximeterEmulator(tz=tz, qualified=False, spot_check=False) as em:
        reading = await oximeter(em, backend).measure(timeout_s=10)
    assert (reading.spo2_percent, reading.pulse_bpm) == (97, 72)
    assert em.frames_sent >= em.settle_frames + 5


async def test_spot_check_only_oximeter(tz: ZoneInfo, backend: BleBackend) -> None:
    async with PulseOximeterEmulator(tz=tz, continuous=False, spo2=93, pulse=88) as em:
        reading = await oximeter(em, backend).measure(timeout_s=10)
    assert (reading.spo2_percent, reading.pulse_bpm) == (93, 88)
    assert reading.mode is OximetryMode.SPOT_CHECK
    assert reading.device_time is not None
    assert abs(reading.device_time - datetime.now(tz)) < timedelta(seconds=5)
    assert em.spot_checks_sent == 1


async def test_stored_spot_checks_sent_at_connect_are_device_memory(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with PulseOximeterEmulator(tz=tz, continuous=False, memory=4, stored_on_connect=2) as em:
        device = oximeter(em, backend)
        reading = await device.measure(timeout_s=10)
    assert reading.spo2_percent == 97
    expected = [float(r.spo2.value or 0) for r in em.memory[-2:]]
    assert [m.spo2_percent for m in device.memory] == expected


FAULTS = [
    (Fault.UNSTABLE, MeasurementProblem.UNSTABLE, "unstable"),
    (Fault.INVALID, MeasurementProblem.NO_VALUE, "invalid_measurement_detected"),
    (Fault.SENSOR_OFF, MeasurementProblem.POOR_SIGNAL, "sensor_unconnected_to_user"),
    (Fault.SPECIAL_VALUE, MeasurementProblem.NO_VALUE, "nan"),
    (Fault.OUT_OF_RANGE, MeasurementProblem.OUT_OF_RANGE, None),
]


@pytest.mark.parametrize(
    ("fault", "problem", "code", "continuous"),
    [(*case, True) for case in FAULTS]
    # A spot-check-only oximeter that never settles sends nothing: see the timeout test.
    + [(*case, False) for case in FAULTS if case[0] is not Fault.UNSTABLE],
)
async def test_unstable_or_invalid_readings_give_no_reading(
    tz: ZoneInfo,
    backend: BleBackend,
    fault: Fault,
    problem: MeasurementProblem,
    code: str | None,
    continuous: bool,
) -> None:
    async with PulseOximeterEmulator(
        tz=tz, faults=frozenset({fault}), continuous=continuous, qualified=False
    ) as em:
        with pytest.raises(MeasurementError) as err:
            await oximeter(em, backend).measure(timeout_s=10)
    assert err.value.problem is problem and err.value.code == code
    assert em.address in str(err.value)


async def test_a_spot_check_oximeter_that_never_settles_times_out(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with PulseOximeterEmulator(
        tz=tz, faults=frozenset({Fault.UNSTABLE}), continuous=False
    ) as em:
        with pytest.raises(DeviceTimeoutError):
            await oximeter(em, backend).measure(timeout_s=1.5)
    assert em.spot_checks_sent == 0


@pytest.mark.parametrize("fault", [Fault.GARBAGE, Fault.SHORT_FRAME])
@pytest.mark.parametrize("continuous", [True, False], ids=["continuous", "spot_only"])
async def test_undecodable_values_are_codec_errors(
    tz: ZoneInfo, backend: BleBackend, fault: Fault, continuous: bool
) -> None:
    async with PulseOximeterEmulator(tz=tz, faults=frozenset({fault}), continuous=continuous) as em:
        with pytest.raises(PlxCodecError) as err:
            await oximeter(em, backend).measure(timeout_s=10)
    assert err.value.raw and em.address in str(err.value)


async def test_link_dropped_mid_measurement(tz: ZoneInfo, backend: BleBackend) -> None:
    async with PulseOximeterEmulator(tz=tz, faults=frozenset({Fault.DROP_MID_MEASUREMENT})) as em:
        with pytest.raises(DeviceConnectionError) as err:
            await oximeter(em, backend).measure(timeout_s=10)
    assert err.value.reason == "link_lost"
    assert em.frames_sent == em.settle_frames and em.spot_checks_sent == 0


# --- memory download ---------------------------------------------------------------


async def test_memory_download_with_progress(tz: ZoneInfo, backend: BleBackend) -> None:
    async with PulseOximeterEmulator(tz=tz, memory=30) as em:
        device = oximeter(em, backend)
        progress: list[tuple[int, int]] = []
        records = await device.download(on_progress=lambda d, t: progress.append((d, t)))
        rest = await device.download(after_sequence=25)
    assert [r.spo2_percent for r in records] == [int(r.spo2.value or 0) for r in em.memory]
    times = [r.device_time for r in records]
    assert all(t is not None for t in times) and times == sorted(times)  # type: ignore[type-var]
    assert all(r.mode is OximetryMode.SPOT_CHECK for r in records)
    assert progress[0] == (0, 30) and progress[-1] == (30, 30)
    assert rest == records[25:]
    assert len(em.memory) == 30  # nothing deleted without asking


async def test_download_then_delete(tz: ZoneInfo, backend: BleBackend) -> None:
    async with PulseOximeterEmulator(tz=tz, memory=5) as em:
        device = oximeter(em, backend, delete_after_download=True)
        assert len(await device.download()) == 5
        assert em.memory == []
        assert await device.download() == []


async def test_download_interrupted_keeps_what_arrived_and_resumes(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with PulseOximeterEmulator(
        tz=tz, memory=20, faults=frozenset({Fault.DROP_MID_DOWNLOAD})
    ) as em:
        device = oximeter(em, backend)
        with pytest.raises(DownloadInterrupted) as err:
            await device.download()
        kept = err.value.records
        rest = await device.download(after_sequence=len(kept))
    assert len(kept) == em.drop_after == 10
    assert [r.spo2_percent for r in kept + rest] == [int(r.spo2.value or 0) for r in em.memory]


async def test_racp_error_is_named(tz: ZoneInfo, backend: BleBackend) -> None:
    async with PulseOximeterEmulator(
        tz=tz,
        memory=3,
        faults=frozenset({Fault.RACP_ERROR}),
        racp_response=ResponseCode.PROCEDURE_NOT_COMPLETED,
    ) as em:
        with pytest.raises(RacpFailed) as err:
            await oximeter(em, backend).download()
    assert err.value.code is ResponseCode.PROCEDURE_NOT_COMPLETED


async def test_garbage_in_memory_is_a_codec_error(tz: ZoneInfo, backend: BleBackend) -> None:
    async with PulseOximeterEmulator(tz=tz, memory=6, faults=frozenset({Fault.GARBAGE})) as em:
        with pytest.raises(PlxCodecError):
            await oximeter(em, backend).download()


async def test_an_oximeter_without_memory_says_so(tz: ZoneInfo, backend: BleBackend) -> None:
    async with PulseOximeterEmulator(tz=tz) as em:
        with pytest.raises(DeviceError, match="keeps no spot-check memory") as err:
            await oximeter(em, backend).download()
    assert err.value.reason == "no_memory"


# --- the pure rules ------------------------------------------------------------------


def frame(spo2: int, pulse: int, **status: bool) -> ContinuousRecord:
    device = {k: v for k, v in status.items() if k in DeviceStatus.__dataclass_fields__}
    measurement = {k: v for k, v in status.items() if k not in device}
    return ContinuousRecord(
        spo2=Nfloat(spo2, 0),
        pulse_rate=Nfloat(pulse, 0),
        measurement_status=MeasurementStatus(measurement_ongoing=True, **measurement),
        device_status=DeviceStatus(**device),
    )


def test_window_needs_five_steady_frames() -> None:
    s = Stabiliser(device=INFO, require_qualified=False)
    assert [s.feed(frame(96, 70)) for _ in range(4)] == [None] * 4
    reading = s.feed(frame(97, 74))  # within 1 % and 5 bpm
    assert reading is not None and (reading.spo2_percent, reading.pulse_bpm) == (97, 74)


def test_window_spread_and_problems_restart_the_count() -> None:
    s = Stabiliser(device=INFO, require_qualified=False)
    for value in (95, 97, 97, 97, 97):
        assert s.feed(frame(value, 70)) is None  # 95..97 spreads 2 %
    assert s.feed(frame(97, 70, poor_signal_detected=True)) is None
    assert s.last_problem is not None and s.last_problem.problem is MeasurementProblem.POOR_SIGNAL
    for _ in range(4):
        assert s.feed(frame(97, 70)) is None
    assert s.feed(frame(97, 70)) is not None


def test_early_estimates_never_count() -> None:
    s = Stabiliser(device=INFO, require_qualified=False)
    for _ in range(10):
        assert s.feed(frame(97, 70, early_estimated_data=True)) is None
    assert s.failure(3).problem is MeasurementProblem.UNSTABLE


def test_a_device_that_qualifies_its_data_is_believed() -> None:
    s = Stabiliser(device=INFO, require_qualified=True)
    for _ in range(10):
        assert s.feed(frame(97, 70)) is None
    reading = s.feed(frame(97, 70, fully_qualified_data=True))
    assert reading is not None and reading.spo2_percent == 97
    assert Stabiliser(device=INFO, require_qualified=True).feed(frame(98, 70, validated_data=True))


def test_special_value_is_a_problem_not_a_number() -> None:
    s = Stabiliser(device=INFO, require_qualified=False)
    nan = ContinuousRecord(spo2=Nfloat.of(Special.NAN), pulse_rate=Nfloat(70, 0))
    assert s.feed(nan) is None
    assert s.failure(1).problem is MeasurementProblem.NO_VALUE


@pytest.mark.parametrize(
    ("status", "device", "mode", "verdict"),
    [
        ({}, {}, OximetryMode.SPOT_CHECK, "ok"),
        ({"measurement_ongoing": True}, {}, OximetryMode.SPOT_CHECK, "settling"),
        ({"measurement_ongoing": True}, {}, OximetryMode.CONTINUOUS, "ok"),
        ({"calibration_ongoing": True}, {}, OximetryMode.CONTINUOUS, "settling"),
        ({}, {"signal_analysis_ongoing": True}, OximetryMode.CONTINUOUS, "settling"),
        ({"data_from_measurement_storage": True}, {}, OximetryMode.SPOT_CHECK, "stored"),
        ({"data_for_testing": True}, {}, OximetryMode.SPOT_CHECK, "device_error"),
        ({"questionable_measurement_detected": True}, {}, OximetryMode.SPOT_CHECK, "unstable"),
        ({}, {"low_perfusion_detected": True}, OximetryMode.CONTINUOUS, "poor_signal"),
        ({}, {"sensor_malfunctioning": True}, OximetryMode.CONTINUOUS, "device_error"),
    ],
)
def test_assess(
    status: dict[str, bool], device: dict[str, bool], mode: OximetryMode, verdict: str
) -> None:
    a = assess(MeasurementStatus(**status), DeviceStatus(**device), mode=mode)
    got = (
        a.problem.value
        if a.problem
        else "settling"
        if a.settling
        else "stored"
        if a.stored
        else "ok"
    )
    assert got == verdict


def test_spot_with_unset_clock_has_no_device_time() -> None:
    from drivers.ble.gatt_time import DateTime

    record = SpotCheckRecord(
        spo2=Nfloat(960, -1),
        pulse_rate=Nfloat(655, -1),  # 65.5 → 66, halves up
        timestamp=DateTime(2000, 1, 1, 0, 0, 0),
        device_clock_not_set=True,
    )
    reading = spot_to_reading(record, device=INFO, tz=ZoneInfo("Asia/Shanghai"))
    assert reading.device_time is None and reading.pulse_bpm == 66


def test_a_stored_record_is_stored_whatever_its_status() -> None:
    a = assess(
        MeasurementStatus(data_from_measurement_storage=True, invalid_measurement_detected=True),
        None,
        mode=OximetryMode.SPOT_CHECK,
    )
    assert a.stored and a.problem is MeasurementProblem.NO_VALUE


@given(st.lists(continuous_records, max_size=12), st.booleans())
def test_no_frame_with_a_problem_or_a_bad_value_is_ever_a_reading(
    frames: list[ContinuousRecord], qualified: bool
) -> None:
    s = Stabiliser(device=INFO, require_qualified=qualified, frames=3)
    for record in frames:
        reading = s.feed(record)
        if reading is None:
            continue
        verdict = assess(
            record.measurement_status, record.device_status, mode=OximetryMode.CONTINUOUS
        )
        assert verdict.problem is None and not verdict.settling and not verdict.stored
        assert not qualified or verdict.qualified
        assert 0 < reading.spo2_percent <= 100
        assert reading.pulse_bpm is None or 0 < reading.pulse_bpm < 400


@given(spot_check_records)
def test_any_spot_check_is_a_clean_reading_or_a_measurement_error(record: SpotCheckRecord) -> None:
    try:
        reading = spot_to_reading(record, device=INFO, tz=ZoneInfo("Asia/Shanghai"))
    except MeasurementError:
        return
    verdict = assess(record.measurement_status, record.device_status, mode=OximetryMode.SPOT_CHECK)
    assert verdict.problem is None and not verdict.settling
    assert 0 < reading.spo2_percent <= 100
