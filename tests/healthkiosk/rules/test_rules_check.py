"""Rules are checked at load and by ``healthkiosk rules check FILE`` (issue #14, finding 7).

The shipped rules pass (exit 0); each broken rule file of the table fails with
exit 2 and a line naming the key at fault; every problem is reported, not
only the first.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from healthkiosk.errors import ConfigError
from healthkiosk.rules import classify_glucose, load_rules

# What issue #14 adds to healthkiosk.rules is imported in the tests that use it,
# so that on a main without it each test fails on its own (not the whole file).

ROOT = Path(__file__).resolve().parents[3]

BANDS_NOT_INCREASING = """
[rules.blood_pressure]
profile = "custom"
bands = [
  {category = "high_normal", systolic_min = 120, diastolic_min = 80},
  {category = "grade_1", systolic_min = 140, diastolic_min = 90},
  {category = "grade_2", systolic_min = 130, diastolic_min = 100},
  {category = "grade_3", systolic_min = 180, diastolic_min = 110},
]
"""

# (what is broken, the file's [rules] tables, the keys its lines must name)
BROKEN: list[tuple[str, str, list[str]]] = [
    ("glucose in mg/dL", "[rules.glucose]\nvery_low_max = 70\n", ["rules.glucose.very_low_max"]),
    (
        "every glucose threshold in mg/dL",
        "[rules.glucose]\nvery_low_max = 70\nfasting_impaired_min = 110\nfasting_high_min = 126\n"
        "random_above_normal_min = 140\nrandom_high_min = 200\nvery_high_min = 300\n",
        [
            "rules.glucose.very_low_max",
            "rules.glucose.fasting_impaired_min",
            "rules.glucose.fasting_high_min",
            "rules.glucose.random_above_normal_min",
            "rules.glucose.random_high_min",
            "rules.glucose.very_high_min",
        ],
    ),
    (
        "urgent systolic 0",
        "[rules.blood_pressure]\nurgent_systolic_min = 0\n",
        ["rules.blood_pressure.urgent_systolic_min"],
    ),
    (
        "urgent systolic 1800",
        "[rules.blood_pressure]\nurgent_systolic_min = 1800\n",
        ["rules.blood_pressure.urgent_systolic_min"],
    ),
    (
        "bands that do not increase",
        BANDS_NOT_INCREASING,
        ["rules.blood_pressure.bands.2.systolic_min"],
    ),
    (
        "reversed blood pressure range",
        "[rules.blood_pressure]\nplausible_systolic = [300, 70]\n",
        ["rules.blood_pressure.plausible_systolic"],
    ),
    (
        "reversed glucose range",
        "[rules.glucose]\nplausible = [33.3, 1.1]\n",
        ["rules.glucose.plausible"],
    ),
    (
        "glucose bands not increasing",
        "[rules.glucose]\nfasting_impaired_min = 7.5\n",
        ["rules.glucose.fasting_high_min"],
    ),
    (
        "low pressure above the first band",
        "[rules.blood_pressure]\nlow_systolic_below = 125\n",
        ["rules.blood_pressure.low_systolic_below"],
    ),
    (
        "isolated systolic never reached",
        "[rules.blood_pressure]\nisolated_systolic_min = 320\n",
        ["rules.blood_pressure.isolated_systolic_min"],
    ),
    (
        "control threshold never reached",
        "[rules.followup]\ncontrolled_diastolic_below = 200\n",
        ["rules.followup.controlled_diastolic_below"],
    ),
    (
        "a band outside the plausible range",
        "[rules.blood_pressure]\nplausible_systolic = [70, 170]\n",
        ["rules.blood_pressure.plausible_systolic"],
    ),
    (
        "urgent glucose out of the guideline's neighbourhood",
        "[rules.glucose]\nvery_high_min = 25.0\n",
        ["rules.glucose.very_high_min"],
    ),
    (
        "an override without a reason",
        '[rules.blood_pressure]\nurgent_systolic_min = 160\n[rules.overrides]\n'
        '"blood_pressure.urgent_systolic_min" = "x"\n',
        ["rules.overrides.blood_pressure.urgent_systolic_min"],
    ),
    ("a key that does not exist", "[rules.glucose]\nvery_low = 3.9\n", ["rules.glucose.very_low"]),
    ("a wrong type", '[rules.blood_pressure]\nurgent_systolic_min = "high"\n',
     ["rules.blood_pressure.urgent_systolic_min"]),
    (
        "a rule set the doctor's side holds, broken",
        '[followup.rule_sets.home_bp.blood_pressure]\nprofile = "cn2018_home"\n'
        "urgent_diastolic_min = 10\n",
        ["followup.rule_sets.home_bp.blood_pressure.urgent_diastolic_min"],
    ),
]  # fmt: skip


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "healthkiosk", "rules", "check", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("name", ["station.example.toml", "followup.example.toml"])
def test_the_shipped_rules_pass(name: str) -> None:
    from healthkiosk.rules import rules_digest

    out = _check(ROOT / "config" / name)
    assert out.returncode == 0, out.stdout + out.stderr
    digest = rules_digest(load_rules({}))
    assert f"rules: ok: cn2018 {digest}" in out.stdout.splitlines()


def test_a_file_with_only_rules_tables_is_enough(tmp_path: Path) -> None:
    from healthkiosk.rules import rule_set_id

    f = tmp_path / "home.toml"
    f.write_text('[rules]\nname = "home-BP"\n[rules.blood_pressure]\nprofile = "cn2018_home"\n')
    out = _check(f)
    assert out.returncode == 0, out.stdout
    want = rule_set_id(
        load_rules({"name": "home-BP", "blood_pressure": {"profile": "cn2018_home"}})
    )
    assert out.stdout.splitlines() == [f"rules: ok: home-BP {want.digest}"]


@pytest.mark.parametrize(("what", "toml", "keys"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_rule_file_fails_naming_the_key(
    tmp_path: Path, what: str, toml: str, keys: list[str]
) -> None:
    f = tmp_path / "rules.toml"
    f.write_text(toml)
    out = _check(f)
    assert out.returncode == 2, f"{what}: {out.stdout}{out.stderr}"
    lines = out.stdout.splitlines()
    named = [line.split(": ", 1)[0] for line in lines]
    for key in keys:
        assert key in named, f"{what}: {key} not named in {lines}"


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    f = tmp_path / "rules.toml"
    f.write_text(
        "[rules.glucose]\nvery_low_max = 70\n"
        "[rules.blood_pressure]\nurgent_systolic_min = 1800\nplausible_diastolic = [180, 40]\n"
    )
    out = _check(f)
    named = {line.split(": ", 1)[0] for line in out.stdout.splitlines()}
    assert {
        "rules.glucose.very_low_max",
        "rules.blood_pressure.urgent_systolic_min",
        "rules.blood_pressure.plausible_diastolic",
    } <= named


def test_a_file_that_is_not_toml_is_one_line_and_exit_2(tmp_path: Path) -> None:
    f = tmp_path / "rules.toml"
    f.write_text("[rules\n")
    out = _check(f)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1


def test_the_rules_are_checked_at_load() -> None:
    """The kiosk and the doctor's side load the rules with load_rules: a glucose
    threshold in mg/dL never reaches a classification (5.0 mmol/L would be
    "very low", urgent)."""
    from healthkiosk.rules import RulesError

    with pytest.raises(RulesError) as info:
        load_rules({"glucose": {"very_low_max": 70}, "blood_pressure": {"urgent_systolic_min": 0}})
    err = info.value
    assert isinstance(err, ConfigError) and err.key == "rules.blood_pressure.urgent_systolic_min"
    keys = {p.key for p in err.problems}
    assert keys == {"rules.glucose.very_low_max", "rules.blood_pressure.urgent_systolic_min"}
    assert "typed in mg/dL? 70 mg/dL is 3.9 mmol/L" in str(
        next(p for p in err.problems if p.key == "rules.glucose.very_low_max")
    )
    assert classify_glucose(5.0, "random", load_rules().glucose).category == "normal"


def test_an_override_with_a_reason_allows_an_urgent_threshold_outside_the_neighbourhood() -> None:
    from healthkiosk.rules import check_rules

    data = {
        "blood_pressure": {"urgent_systolic_min": 160},
        "overrides": {"blood_pressure.urgent_systolic_min": "district protocol 2025-03, Dr Wang"},
    }
    assert load_rules(data).blood_pressure.urgent_systolic_min == 160
    _, problems = check_rules({"blood_pressure": {"urgent_systolic_min": 160}})
    assert [p.key for p in problems] == ["rules.blood_pressure.urgent_systolic_min"]
    _, problems = check_rules({"overrides": {"glucose.random_high_min": "because we said so"}})
    assert [p.key for p in problems] == ["rules.overrides.glucose.random_high_min"]


def test_the_digest_is_of_the_meaning_not_of_the_writing() -> None:
    """Defaults written out, ints for floats, another name: the same digest;
    a changed threshold: another."""
    from healthkiosk.rules import rule_set_id, rules_digest

    base = rules_digest(load_rules({}))
    assert (
        rules_digest(load_rules({"glucose": {"very_low_max": 3.9, "very_high_min": 16.7}})) == base
    )
    assert rules_digest(load_rules({"glucose": {"fasting_high_min": 7}})) == base
    assert rules_digest(load_rules({"name": "our district"})) == base
    assert rules_digest(load_rules({"blood_pressure": {"profile": "cn2018_home"}})) != base
    assert len(base) == 64 and int(base, 16) >= 0
    assert rule_set_id(load_rules({})).name == "cn2018"


def test_the_doctors_side_holds_its_own_rules_and_its_named_rule_sets() -> None:
    from healthkiosk.rules import RulesError, held_rule_sets, rules_digest

    home = {"blood_pressure": {"profile": "cn2018_home"}}
    held = held_rule_sets({}, {"home_bp": home})
    assert {r.name for r in held.values()} == {"cn2018", "home_bp"}
    assert rules_digest(load_rules(home)) in held
    with pytest.raises(RulesError) as info:
        held_rule_sets({}, {"broken": {"glucose": {"very_low_max": 70}}})
    assert info.value.key == "followup.rule_sets.broken.glucose.very_low_max"
