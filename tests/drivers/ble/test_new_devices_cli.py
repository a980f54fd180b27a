"""The technician's commands for the issue #17 devices (scales, pulse
oximeters, thermometers), run as a technician would: ``devices decode`` and
``devices reading`` on public bytes (the sources are named in
test_weight_codec.py, test_plx_codec.py and test_hts_codec.py), and ``devices
read --emulate`` against each twin."""

from __future__ import annotations

import json

import pytest

from drivers.ble.decode import KINDS
from drivers.ble.reading import KINDS as READING_KINDS
from healthkiosk.cli.devices_ble import DECODE_KINDS
from healthkiosk.cli.devices_ble import READING_KINDS as CLI_READING_KINDS
from tests.support.cli import run

WEIGHT_FIELDS = {"weight", "unit", "timestamp", "user_id", "bmi", "height"}
PLX_FIELDS = {
    "spo2",
    "pulse_rate",
    "timestamp",
    "measurement_status",
    "device_status",
    "pulse_amplitude_index",
}
TEMPERATURE_FIELDS = {"value", "unit", "timestamp", "type"}

SPEZI_SPOT = "0f ac f3 be f5 e8 07 0b 1d 17 08 39 20 40 22 00 00 66 e3"
SPEZI_CONTINUOUS_FULL = "1F DE F3 CA F3 CA F3 5A F5 D4 F3 B2 F2 20 01 00 00 00 7A E3"
NORDIC_TEMPERATURE = "(0x) 06-B0-0E-00-FE-DC-07-0C-05-0B-32-1B-04"


def json_of(*args: str) -> dict[str, object]:
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_every_decoder_is_a_cli_kind() -> None:
    assert set(DECODE_KINDS) == set(KINDS)
    assert set(CLI_READING_KINDS) == set(READING_KINDS)


def test_decode_weight() -> None:
    full = json_of("devices", "decode", "weight", "0F 54 3D E7 07 0C 19 0E 1E 2D 03 F5 00 A8 02")
    assert full == {
        "weight": 157.0,
        "unit": "lb",
        "timestamp": "2023-12-25T14:30:45",
        "user_id": 3,
        "bmi": 24.5,
        "height": 68.0,
    }
    si = json_of("devices", "decode", "weight", "0C B0 36 05 F5 00 D6 06")
    assert set(si) == WEIGHT_FIELDS
    assert (si["weight"], si["unit"], si["height"], si["bmi"]) == (70.0, "kg", 1.75, 24.5)
    unsuccessful = json_of("devices", "decode", "weight", "00 ff ff")
    assert unsuccessful["weight"] is None and unsuccessful["unit"] == "kg"


def test_decode_plx() -> None:
    spot = json_of("devices", "decode", "plx-spot", SPEZI_SPOT)
    assert set(spot) == PLX_FIELDS
    assert (spot["spo2"], spot["pulse_rate"], spot["pulse_amplitude_index"]) == (94.0, 147.0, 8.7)
    assert spot["timestamp"] == "2024-11-29T23:08:57"
    status, device = spot["measurement_status"], spot["device_status"]
    assert isinstance(status, dict) and isinstance(device, dict)
    assert status["questionable_measurement_detected"] is True
    assert device["low_perfusion_detected"] is True and device["sensor_displaced"] is False
    cont = json_of("devices", "decode", "plx-continuous", SPEZI_CONTINUOUS_FULL)
    assert set(cont) == PLX_FIELDS
    assert (cont["spo2"], cont["pulse_rate"], cont["timestamp"]) == (99.0, 97.0, None)
    bare = json_of("devices", "decode", "plx-continuous", "00 ff 07 00 08")
    assert bare["spo2"] is None and bare["pulse_rate"] is None  # NaN and NRes
    assert bare["measurement_status"] is None and bare["device_status"] is None


def test_decode_temperature() -> None:
    t = json_of("devices", "decode", "temperature", NORDIC_TEMPERATURE)
    assert t == {"value": 37.6, "unit": "C", "timestamp": "2012-12-05T11:50:27", "type": "finger"}
    f = json_of("devices", "decode", "temperature", "01 DA 03 00 FF")
    assert (f["value"], f["unit"], f["type"], f["timestamp"]) == (98.6, "F", None, None)
    nan = json_of("devices", "decode", "temperature", "00 ff ff 7f 00")
    assert nan["value"] is None


def test_decode_features_and_body_composition() -> None:
    body = json_of("devices", "decode", "body-composition", "00 0E 46 00 40 1F B0 36 E8 03")
    assert (body["body_fat_percent"], body["impedance_ohm"], body["weight"]) == (7.0, 800.0, 70.0)
    assert json_of("devices", "decode", "weight-feature", "8F 00 00 00")["bmi"] is True
    features = json_of("devices", "decode", "plx-features", "a3 00 40 10 80 01 00")
    assert features["multiple_bonds"] is True and features["spo2pr_slow"] is True


@pytest.mark.parametrize(
    ("kind", "hex_text"),
    [
        ("weight", "00 b0"),
        ("weight", "10 b0 36 d6 06"),  # a reserved flag bit's field: refused
        ("plx-spot", SPEZI_SPOT[:-3]),
        ("plx-continuous", "1c 5f 00 5a 00"),
        ("temperature", "06 B0 0E 00 FE DC 07 0C 05 0B 32 1B"),  # Nordic's invalid data
        ("temperature", "zz"),
    ],
)
@pytest.mark.parametrize("command", ["decode", "reading"])
def test_undecodable_is_one_line_exit_2(command: str, kind: str, hex_text: str) -> None:
    result = run("devices", command, kind, hex_text)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    ("kind", "hex_text", "expected"),
    [
        (
            "weight",
            "0C B0 36 05 F5 00 D6 06",
            # BMI from the weight and height (70 / 1.75² = 22.9), not the vector's 24.5
            {"recorded": True, "weight_kg": 70.0, "bmi": 22.9, "height_m": 1.75, "user_id": 5},
        ),
        ("weight", "01 54 3D", {"recorded": True, "weight_kg": 71.2, "bmi": None}),  # 157 lb
        ("weight", "00 FF FF", {"recorded": False, "reason": "no_value", "weight_kg": None}),
        ("weight", "00 00 00", {"recorded": False, "reason": "out_of_range"}),
        ("weight", "00 8C 0F", {"recorded": False, "reason": "weight_out_of_range"}),  # 19.9 kg
        ("weight", "00 A0 0F", {"recorded": True, "weight_kg": 20.0}),  # the lowest accepted
        # Spezi's spot-check is flagged questionable (and a malfunction): not recorded
        ("plx-spot", SPEZI_SPOT, {"recorded": False, "reason": "unstable", "spo2": 94}),
        ("plx-spot", "00 61 00 48 00", {"recorded": True, "spo2": 97, "pulse": 72}),
        ("plx-spot", "02 61 00 48 00 00 02", {"recorded": False, "reason": "device_memory"}),
        ("plx-spot", "00 1e 00 48 00", {"recorded": False, "reason": "spo2_out_of_range"}),
        ("plx-spot", "00 ff 07 48 00", {"recorded": False, "reason": "no_value", "spo2": None}),
        # Spezi's full continuous frame is fully qualified: it counts alone
        ("plx-continuous", SPEZI_CONTINUOUS_FULL, {"recorded": True, "spo2": 99, "pulse": 97}),
        # ... its "simple" one is only ongoing: one frame is not a stable reading
        ("plx-continuous", "1C 5F 00 5A 00 20 00 00 00 00 57 F0", {"reason": "unstable"}),
        (
            "temperature",
            NORDIC_TEMPERATURE,
            {"recorded": True, "temperature_c": 37.6, "site": "finger"},
        ),
        ("temperature", "01 DA 03 00 FF", {"recorded": True, "temperature_c": 37.0}),  # 98.6 °F
        ("temperature", "00 37 00 00 00", {"recorded": False, "reason": "out_of_range"}),  # 55
        (  # Zephyr's sample 21 °C and 43.3 °C: a thermometer's numbers, not a body's
            "temperature",
            "00 15 00 00 00",
            {"recorded": False, "reason": "temperature_out_of_range", "temperature_c": 21.0},
        ),
        (
            "temperature",
            "00 b1 01 00 ff",
            {"recorded": False, "reason": "temperature_out_of_range", "temperature_c": 43.3},
        ),
    ],
)
def test_reading(kind: str, hex_text: str, expected: dict[str, object]) -> None:
    out = json_of("devices", "reading", kind, hex_text)
    assert {k: out[k] for k in expected} == expected
    assert (out["reason"] is None) is out["recorded"]


@pytest.mark.parametrize(
    ("driver", "fields"),
    [
        ("ble-weight-standard", {"weight_kg": 68.4, "bmi": 25.1, "height_m": 1.65}),
        ("ble-plx-standard", {"spo2_percent": 97, "pulse_bpm": 72, "mode": "continuous"}),
        ("ble-thermometer-standard", {"celsius": 36.6, "site": "armpit"}),
    ],
)
def test_read_emulated_measurement(driver: str, fields: dict[str, object]) -> None:
    result = run("--log-level", "ERROR", "devices", "read", driver, "--emulate")
    assert result.returncode == 0, result.stderr
    reading = json.loads(result.stdout)
    assert {k: reading[k] for k in fields} == fields
    assert reading["device"]["transport"] == "emulated"
    if driver == "ble-thermometer-standard":
        assert "temperature 36.2 °C" in result.stderr


def test_read_oximeter_memory() -> None:
    result = run(
        "devices",
        "read",
        "ble-plx-standard",
        "--emulate",
        "--memory",
        "--option",
        'emulator={"memory": 40}',
    )
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert len(records) == 40 and all(r["mode"] == "spot_check" for r in records)
    assert "40/40" in result.stderr


@pytest.mark.parametrize(
    ("driver", "fault", "words"),
    [
        ("ble-weight-standard", "special_value", "measurement unsuccessful"),
        ("ble-weight-standard", "garbage", "need"),
        ("ble-weight-standard", "drop_mid_measurement", "link lost"),
        ("ble-plx-standard", "sensor_off", "sensor not on the finger"),
        ("ble-plx-standard", "invalid", "invalid measurement"),
        ("ble-plx-standard", "short_frame", "need"),
        ("ble-thermometer-standard", "out_of_range", "outside what a thermometer measures"),
        ("ble-thermometer-standard", "drop_mid_measurement", "link lost"),
    ],
)
def test_read_fault_is_one_clear_line(driver: str, fault: str, words: str) -> None:
    result = run("--log-level", "ERROR", "devices", "read", driver, "--emulate", "--fault", fault)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("temperature ")]
    assert len(lines) == 1 and words in lines[0], result.stderr
