"""Configuration: every error names its key; the documented search order; the
example configurations in the repository load and validate."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from healthkiosk.config import ENV_VAR, Config, find_config, from_mapping, load_config
from healthkiosk.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        ({"store": {"retension_days": 3}}, "store.retension_days", "unknown key"),
        ({"stations": {}}, "stations", "unknown key"),
        ({"mqtt": {"port": "eighty"}}, "mqtt.port", "integer"),
        ({"mqtt": {"port": 70000}}, "mqtt.port", "65535"),
        ({"store": {"min_free_mb": 0}}, "store.min_free_mb", "greater than or equal"),
        ({"station": {"id": "Station 1"}}, "station.id", "pattern"),
        ({"station": {"id": "-leading-dash"}}, "station.id", "pattern"),
        ({"devices": {"glucose": {"port": "/dev/ttyUSB0"}}}, "devices.glucose.driver", "required"),
        (
            {"devices": {"glucose": {"driver": "x", "baud": 9600}}},
            "devices.glucose.baud",
            "unknown key",
        ),
        ({"kiosk": {"language": "fr"}}, "kiosk.language", "zh_CN"),
        ({"kiosk": {"still_here_s": 5}}, "kiosk.still_here_s", "20"),
        ({"logging": {"level": "LOUD"}}, "logging.level", "INFO"),
        ({"followup": {"mqtt": {"keepalive_s": 1}}}, "followup.mqtt.keepalive_s", "5"),
        ({"source": "x"}, "source", "not a configuration key"),
    ],
)
def test_every_error_names_its_key(data: dict[str, object], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_mapping(data)
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}: ")
    assert words in str(info.value)
    assert info.value.reason == "config_invalid"


def test_several_errors_say_how_many_more() -> None:
    with pytest.raises(ConfigError, match=r"\(and 1 more\)"):
        from_mapping({"mqtt": {"port": "x"}, "store": {"min_free_mb": -1}})


def test_defaults_run_a_laptop_demo() -> None:
    cfg = Config()
    assert cfg.devices.simulate is True
    assert cfg.store_path == cfg.data_dir / "kiosk.sqlite"
    assert cfg.id_hash_key_path == cfg.data_dir / "id-hash.key"
    assert cfg.followup_database_url.startswith("sqlite:///")
    assert (cfg.mqtt.host, cfg.mqtt.port) == ("127.0.0.1", 1883)


def _write(path: Path, station: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[station]\nid = "{station}"\n', encoding="utf-8")
    return path


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work, xdg = tmp_path / "work", tmp_path / "xdg"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    if Path("/etc/healthkiosk/config.toml").exists():  # pragma: no cover - not on CI machines
        pytest.fail("a system configuration would shadow this test")
    assert find_config() is None
    assert load_config() == Config()

    _write(xdg / "healthkiosk" / "config.toml", "from-xdg")
    assert load_config().station.id == "from-xdg"
    _write(work / "healthkiosk.toml", "from-cwd")
    assert load_config().station.id == "from-cwd"
    env_file = _write(tmp_path / "env.toml", "from-env")
    monkeypatch.setenv(ENV_VAR, str(env_file))
    assert load_config().station.id == "from-env"
    explicit = _write(tmp_path / "explicit.toml", "from-flag")
    cfg = load_config(explicit)
    assert cfg.station.id == "from-flag" and cfg.source == explicit


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[station\nid = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def _cli(
    args: list[str], env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "healthkiosk", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_reports_the_key_in_one_line_from_flag_and_env(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[mqtt]\nport = "x"\n', encoding="utf-8")
    for res in (
        _cli(["--config", str(bad), "store", "stats"]),
        _cli(["store", "stats"], {ENV_VAR: str(bad)}),
    ):
        assert res.returncode == 2
        assert res.stderr.splitlines() == [
            "healthkiosk: mqtt.port: Input should be a valid integer, "
            "unable to parse string as an integer"
        ]
        assert res.stdout == ""


def _load_example(name: str) -> Config:
    cfg = load_config(REPO / "config" / name)
    if importlib.util.find_spec("healthkiosk.rules") is not None:
        # Once the rules module is merged, its own validation applies too.
        from healthkiosk.rules import load_rules

        load_rules(cfg.rules)
    return cfg


def _sections_mentioned(text: str) -> set[str]:
    found = set()
    for line in text.splitlines():
        stripped = line.lstrip("# ").strip()
        if stripped.startswith("[") and "]" in stripped:
            found.add(stripped[1 : stripped.index("]")].split(".")[0])
    return found


@pytest.mark.parametrize("name", ["station.example.toml", "followup.example.toml"])
def test_examples_mention_every_section(name: str) -> None:
    text = (REPO / "config" / name).read_text(encoding="utf-8")
    sections = set(Config.model_fields) - {"source"}
    assert sections <= _sections_mentioned(text), sections - _sections_mentioned(text)


def test_station_example_is_a_real_station() -> None:
    cfg = _load_example("station.example.toml")
    assert cfg.station.id == "dc-jianguomen-03"
    assert cfg.devices.simulate is False
    bp, glucose, card = cfg.devices.blood_pressure, cfg.devices.glucose, cfg.devices.id_card
    assert bp is not None and bp.address and bp.driver
    assert glucose is not None and glucose.port and glucose.port.startswith("/dev/")
    assert card is not None and card.port and card.port.startswith("/dev/")
    assert cfg.mqtt.port == 8883 and cfg.mqtt.tls_ca is not None
    assert cfg.mqtt.password_file is not None and cfg.mqtt.password is None
    assert cfg.store_path == Path("/var/lib/healthkiosk/kiosk.sqlite")
    assert cfg.logging.format == "json"


def test_followup_example_uses_postgresql() -> None:
    cfg = _load_example("followup.example.toml")
    assert cfg.followup_database_url.startswith("postgresql+psycopg://")
    assert cfg.followup.mqtt.port == 8883 and cfg.followup.mqtt.tls_ca is not None
    assert cfg.followup.mqtt.password is None


def test_each_doctor_side_process_signs_in_with_its_own_account(tmp_path: Path) -> None:
    from healthkiosk.config import FollowupConfig, MqttConfig

    shared = FollowupConfig(mqtt=MqttConfig(port=8883, username="old", password="pw"))
    assert shared.account_mqtt("followup-web") == shared.mqtt  # no accounts directory
    assert shared.resolved_ingest_group() == "followup"
    accounts = tmp_path / "mqtt"
    accounts.mkdir()
    f = FollowupConfig(mqtt=MqttConfig(port=8883, username="old"), mqtt_accounts_dir=accounts)
    m = f.account_mqtt("followup-ingest-2")
    assert (m.username, m.password, m.port) == ("followup-ingest-2", None, 8883)
    assert m.password_file == accounts / "followup-ingest-2.password"
    assert f.resolved_ingest_group() == "followup"  # no group file yet
    (accounts / "ingest-group").write_text("ingest-Secret_1\n")
    assert f.resolved_ingest_group() == "ingest-Secret_1"
    assert f.model_copy(update={"ingest_group": "mine"}).resolved_ingest_group() == "mine"
    (accounts / "ingest-group").write_text("no/slashes\n")
    with pytest.raises(ConfigError):
        f.resolved_ingest_group()
