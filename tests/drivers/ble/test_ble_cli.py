"""The technician's device commands, run as a technician would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "HEALTHKIOSK_CONFIG": str(ROOT / "tests" / "drivers" / "ble" / "no-such-config.toml"),
    }
    full_env.pop("HEALTHKIOSK_CONFIG")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "healthkiosk", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )


BPM_FIELDS = {
    "systolic",
    "diastolic",
    "mean_arterial_pressure",
    "unit",
    "timestamp",
    "pulse_rate",
    "user_id",
    "measurement_status",
}
GLUCOSE_FIELDS = {
    "sequence_number",
    "base_time",
    "time_offset_minutes",
    "concentration",
    "unit",
    "mmol_per_l",
    "type",
    "sample_location",
    "sensor_status",
    "context_follows",
}


def decode(kind: str, hex_text: str) -> dict[str, object]:
    result = run("devices", "decode", kind, hex_text)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_decode_every_kind() -> None:
    # Nordic's BPM test bytes, as nRF Connect prints them.
    bpm = decode("bpm", "(0x) 1E-8A-00-58-00-78-00-00-00-04-11-14-29-3B-3C-00-01-27-00")
    assert set(bpm) == BPM_FIELDS
    assert bpm["systolic"] == 138.0 and bpm["unit"] == "mmHg" and bpm["timestamp"] is None
    assert bpm["measurement_status"]["cuff_too_loose"] is True  # type: ignore[index]

    icp = decode("icp", "00 28 00 ff 07 ff 07")
    assert set(icp) == BPM_FIELDS
    assert (
        icp["systolic"] == 40.0 and icp["diastolic"] is None and icp["measurement_status"] is None
    )

    kpa = decode("bpm", "15 BD F0 0B 00 9F F0 3C 00 12 00")
    assert kpa["unit"] == "kPa" and kpa["systolic"] == 18.9

    glucose = decode("glucose", "1b 01 00 e3 07 02 1b 0b 0a 1e fb ff 1e 00 12 05 01")
    assert set(glucose) == GLUCOSE_FIELDS
    assert glucose["base_time"] == "2019-02-27T11:10:30"
    assert glucose["time_offset_minutes"] == -5
    assert glucose["unit"] == "kg/L" and glucose["type"] == "capillary_plasma"
    assert glucose["sensor_status"]["device_battery_low"] is True  # type: ignore[index]

    mg = decode("glucose", "02 07 00 e8 07 0b 19 08 1e 00 6e b0 11")
    assert mg["mmol_per_l"] == 6.1 and mg["concentration"] == 0.0011

    assert decode("sfloat", "ff 07") == {"value": None, "special": "nan"}
    assert decode("sfloat", "fe 07") == {"value": None, "special": "+inf"}
    assert decode("sfloat", "bd f0") == {"value": 18.9, "special": None}
    assert decode("float", "ff ff 7f 00") == {"value": None, "special": "nan"}
    assert decode("float", "c8 01 00 fd") == {"value": 0.456, "special": None}

    assert decode("racp", "06 00 01 06") == {
        "op_code": "response_code",
        "operator": "null",
        "request_op_code": "report_stored_records",
        "response_code": "no_records_found",
    }
    assert decode("racp", "05 00 02 01") == {
        "op_code": "number_of_stored_records_response",
        "operator": "null",
        "number_of_records": 258,
    }
    assert decode("racp", "01 03 01 e9 03")["operand"] == [1001]

    feature = decode("bp-feature", "27 00")
    assert feature["multiple_bond"] is True
    context = decode("glucose-context", "02 05 00 03")
    assert context["meal"] == "fasting" and context["sequence_number"] == 5
    cts = decode("cts", "e2 07 0b 19 08 1e 00 07 80 01")
    assert cts["date_time"] == "2018-11-25T08:30:00"
    assert decode("battery", "50") == {"battery_percent": 80}


@pytest.mark.parametrize(
    ("kind", "hex_text"),
    [
        ("bpm", "1e 8a 00"),
        ("racp", "06 00 01 0a"),
        ("sfloat", "ff"),
        ("glucose", "zz"),
        ("battery", "65"),
    ],
)
def test_decode_errors_are_one_line_exit_2(kind: str, hex_text: str) -> None:
    result = run("devices", "decode", kind, hex_text)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("driver", "fields"),
    [
        ("ble-bp-standard", {"systolic_mmhg": 128, "diastolic_mmhg": 82, "pulse_bpm": 71}),
        ("ble-and-ua651", {"systolic_mmhg": 131, "diastolic_mmhg": 84, "pulse_bpm": 66}),
        ("ble-glucose-standard", {"mmol_per_l": 6.4, "sequence_number": 21, "meal": "fasting"}),
    ],
)
def test_read_emulated_measurement(driver: str, fields: dict[str, object]) -> None:
    result = run("devices", "read", driver, "--emulate", "--option", "poll_interval_s=0.05")
    assert result.returncode == 0, result.stderr
    reading = json.loads(result.stdout)
    assert {k: reading[k] for k in fields} == fields
    assert reading["device"]["transport"] == "emulated"
    if driver == "ble-bp-standard":
        assert "cuff 158 mmHg" in result.stderr


def test_read_memory_download_with_progress() -> None:
    result = run(
        "devices",
        "read",
        "ble-glucose-standard",
        "--emulate",
        "--memory",
        "--option",
        'emulator={"memory": 1000}',
    )
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["sequence_number"] for r in records] == list(range(1, 1001))
    assert "1000/1000" in result.stderr
    after = run("devices", "read", "ble-glucose-standard", "--emulate", "--memory", "--after", "15")
    assert [r["sequence_number"] for r in json.loads(after.stdout)] == [16, 17, 18, 19, 20]


def test_read_memory_interrupted_prints_what_arrived() -> None:
    result = run(
        "--log-level",
        "ERROR",
        "devices",
        "read",
        "ble-glucose-standard",
        "--emulate",
        "--memory",
        "--fault",
        "drop_mid_download",
        "--option",
        'emulator={"memory": 1000}',
    )
    assert result.returncode == 2
    kept = json.loads(result.stdout)
    assert 0 < len(kept) < 1000
    assert [r["sequence_number"] for r in kept] == list(range(1, len(kept) + 1))
    errors = [line for line in result.stderr.splitlines() if line.startswith("healthkiosk:")]
    assert len(errors) == 1 and f"after sequence {len(kept)} to resume" in errors[0]


@pytest.mark.parametrize(
    ("driver", "fault", "words"),
    [
        ("ble-bp-standard", "cuff_loose", "cuff too loose"),
        ("ble-bp-standard", "drop_mid_measurement", "link lost"),
        ("ble-glucose-standard", "strip_error", "strip insertion"),
        ("ble-and-ua651", "body_movement", "body movement"),
    ],
)
def test_read_fault_is_one_clear_line(driver: str, fault: str, words: str) -> None:
    result = run(
        "--log-level",
        "ERROR",
        "devices",
        "read",
        driver,
        "--emulate",
        "--fault",
        fault,
        "--option",
        "poll_interval_s=0.05",
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("cuff ")]
    assert len(lines) == 1 and words in lines[0], result.stderr


def test_scan_emulated() -> None:
    result = run("devices", "scan", "--emulate", "--timeout", "0.3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 6  # every BLE driver's twin
    assert any("0x1808" in line and "GLS-EMU" in line for line in lines)
    for service, name in (("0x181D", "WSS-EMU"), ("0x1822", "PLX-EMU"), ("0x1809", "HTS-EMU")):
        assert any(service in line and name in line for line in lines), result.stdout
    assert all("rssi" in line for line in lines)


def test_scan_without_bluetooth_is_one_line() -> None:
    result = run(
        "devices",
        "scan",
        "--timeout",
        "1",
        env={"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/healthkiosk-test"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if "Bluetooth is not available" in line
    ]
    assert len(result.stderr.strip().splitlines()) == 1


def test_read_without_bluetooth_is_one_line() -> None:
    result = run(
        "--log-level",
        "ERROR",
        "devices",
        "read",
        "ble-bp-standard",
        "--timeout",
        "5",
        env={"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/healthkiosk-test"},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Bluetooth unavailable" in lines[0]


def test_emulate_runs_until_stopped() -> None:
    result = run("devices", "emulate", "ble-glucose-standard", "--for", "0.3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("emulating ble-glucose-standard: GLS-EMU at C0:FF:EE:00:18:08")


def test_unknown_driver() -> None:
    result = run("devices", "read", "no-such-driver", "--emulate")
    assert result.returncode == 2
    assert "unknown driver" in result.stderr


def test_read_json_masks_an_id_number() -> None:
    # `devices read` is generic: an ID card reader's result goes through the
    # same JSON conversion, and the ID number never leaves unmasked.
    from healthkiosk.cli.devices_ble import _jsonable
    from healthkiosk.readings import IdCardData

    card = IdCardData(
        name="张三",
        sex="男",
        nation="汉",
        birth_date="1990-01-01",
        address="某省某市",
        id_number="11010519491231002X",
        issuing_authority="某公安局",
        valid_from="2020-01-01",
        valid_to="2040-01-01",
    )
    out = _jsonable(card)
    assert out["id_number"] == "110***********002X"
    assert "11010519491231002X" not in json.dumps(out, ensure_ascii=False)
