"""The updater end to end on this machine: real wheels, real venvs, a real app process.

Each station starts on release 1 (installed by the updater itself), then is
offered a release that is good, hostile or broken.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from healthkiosk.admin.release.publish import publish
from healthkiosk.visitlock import VisitLock
from tests.support.fixtures.updater import ReleaseServer, put_on_release_1
from tests.support.updater_fakes import Station, signed_bundle
from updater import keys
from updater.state import Step
from updater.updater import ProgressEvent, Result, Updater, UpdaterSettings


def updater(
    station: Station,
    events: list[ProgressEvent] | None = None,
    *,
    window: float = 1.0,
    ready: float = 5.0,
    deadline: float = 60.0,
) -> Updater:
    settings = UpdaterSettings(
        root=station.root,
        trusted_keys=keys.load_trusted([station.pubkey]),
        restart_command=(shutil.which("python3") or "python3", str(station.restart)),
        health_dir=station.health,
        health_units=("kiosk",),
        visit_lock=station.visit_lock,
        name="hkfakeapp",
        ready_timeout_s=ready,
        stability_window_s=window,
        download_deadline_s=deadline,
        read_timeout_s=5.0,
        retry_backoff_s=0.05,
    )
    return Updater(settings, progress=events.append if events is not None else None)


@pytest.fixture(autouse=True)
def _repo_on_app_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.updater_fakes import REPO

    monkeypatch.setenv("HK_REPO", str(REPO))


def release(
    tmp_path: Path,
    server: ReleaseServer,
    key: Path,
    number: int,
    version: str,
    **kwargs: object,
) -> str:
    b = signed_bundle(
        tmp_path / f"bundle-{number}-{version}", key=key, release=number, version=version,
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    return server.manifest_url(publish(b, server.directory))


@pytest.fixture
def on_release_1(
    tmp_path: Path,
    station: Station,
    release_server: ReleaseServer,
    fleet_key: tuple[Path, Path],
    release1_template: Path,
) -> Station:
    """Release 1 is published, installed and running (installed once per session)."""
    release(tmp_path, release_server, fleet_key[0], 1, "1.0.0")
    put_on_release_1(station, release1_template)
    assert station.current() == "releases/1-1.0.0"
    return station


def test_a_first_release_installs_on_an_empty_station(
    tmp_path: Path, station: Station, release_server: ReleaseServer,
    fleet_key: tuple[Path, Path],
) -> None:  # fmt: skip
    url = release(tmp_path, release_server, fleet_key[0], 1, "1.0.0")
    result = updater(station, window=0.3).apply(url)
    assert (result.outcome, result.release) == ("installed", 1)
    assert station.current() == "releases/1-1.0.0"
    assert os.readlink(station.root / "stable") == "releases/1-1.0.0"
    _assert_serving(station, "1.0.0")


def assert_still_on_1(station: Station, result: Result, reason: str) -> None:
    assert result.outcome == "refused"
    assert result.reason == reason
    assert station.current() == "releases/1-1.0.0"
    assert station.current_runs() == "1.0.0"
    state = json.loads((station.root / "updater-state.json").read_text())
    assert state["pending"] is None
    assert state["last"]["outcome"] == "refused"
    assert state["last"]["reason"] == reason


def test_a_good_release_switches_and_passes_its_health_check(
    tmp_path: Path, on_release_1: Station, release_server: ReleaseServer,
    fleet_key: tuple[Path, Path],
) -> None:  # fmt: skip
    st = on_release_1
    old_pid = st.app_pid()
    url = release(tmp_path, release_server, fleet_key[0], 2, "2.0.0")
    events: list[ProgressEvent] = []
    result = updater(st, events, window=1.0).apply(url)
    assert (result.outcome, result.release, result.version) == ("installed", 2, "2.0.0")
    assert st.current() == "releases/2-2.0.0"
    assert st.current_runs() == "2.0.0"
    assert st.app_pid() != old_pid
    steps = [e.step for e in events]
    order = [Step.WAIT_VISIT, Step.DOWNLOAD, Step.VERIFY, Step.INSTALL, Step.SWITCH,
             Step.FIRST_START, Step.STABILITY, Step.DONE]  # fmt: skip
    assert [s for s in dict.fromkeys(steps)] == order
    # The previous release is kept for a switch back; the downloads are gone.
    assert sorted(p.name for p in (st.root / "releases").iterdir()) == ["1-1.0.0", "2-2.0.0"]
    assert not (st.root / "downloads").exists()


def test_a_tampered_bundle_is_refused(
    tmp_path: Path, on_release_1: Station, release_server: ReleaseServer,
    fleet_key: tuple[Path, Path],
) -> None:  # fmt: skip
    url = release(tmp_path, release_server, fleet_key[0], 2, "2.0.0")
    wheel = next((release_server.directory / "2-2.0.0" / "wheels").glob("hkfakeapp-*.whl"))
    data = bytearray(wheel.read_bytes())
    data[100] ^= 0xFF
    wheel.write_bytes(bytes(data))
    result = updater(on_release_1).apply(url)
    assert_still_on_1(on_release_1, result, "hash_mismatch")


def test_an_unsigned_bundle_is_refused(
    tmp_path: Path, on_release_1: Station, release_server: ReleaseServer,
    fleet_key: tuple[Path, Path],
) -> None:  # fmt: skip
    url = release(tmp_path, release_server, fleet_key[0], 2, "2.0.0")
    man = release_server.directory / "2-2.0.0" / "manifest.json"
    doc = json.loads(man.read_text())
    doc["signatures"] = []
    man.write_text(json.dumps(doc))
    assert_still_on_1(on_release_1, updater(on_release_1).apply(url), "unsigned")


def test_a_bundle_signed_with_another_key_is_refused(
    tmp_path: Path, on_release_1: Station, release_server: ReleaseServer,
    other_key: tuple[Path, Path],
) -> None:  # fmt: skip
    url = release(tmp_path, release_server, other_key[0], 2, "2.0.0")
    assert_still_on_1(on_release_1, updater(on_release_1).apply(url), "unknown_key")


def test_a_downgrade_is_refused_but_a_signed_rollback_release_is_not(
    tmp_path: Path, on_release_1: Station, release_server: ReleaseServer,
    fleet_key: tuple[Path, Path],
) -> None:  # fmt: skip
    st = on_release_1
    url2 = release(tmp_path, release_server, fleet_key[0], 2, "2.0.0")
    assert updater(st, window=0.3).apply(url2).outcome == "installed"
    # Release 1 again (an attacker replaying it): refused.
    url1 = release_server.manifest_url("1-1.0.0/manifest.json")
    result = updater(st).apply(url1)
    assert (result.outcome, result.reason) == ("refused", "downgrade")
    assert st.current() == "releases/2-2.0.0"
    # The admin's signed rollback to 1.0.0 under the old number is accepted.
    shutil.rmtree(release_server.directory / "1-1.0.0")
    url1r = release(tmp_path / "rb", release_server, fleet_key[0], 1, "1.0.0", rollback=True)
    result = updater(st, window=0.3).apply(url1r)
    assert result.outcome == "installed"
    assert st.current_runs() == "1.0.0"


def test_expired_metadata_is_refused_as_cannot_confirm_freshness(
    tmp_path: Path, on_release_1: Station, release_server: ReleaseServer,
    fleet_key: tuple[Path, Path],
) -> None:  # fmt: skip
    url = release(
        tmp_path, release_server, fleet_key[0], 2, "2.0.0",
        now=datetime.now(UTC) - timedelta(days=40), expires_in=timedelta(days=30),
    )  # fmt: skip
    result = updater(on_release_1).apply(url)
    assert_still_on_1(on_release_1, result, "expired")
    assert "cannot confirm freshness" in result.detail


def test_files_mixed_from_two_releases_are_refused(
    tmp_path: Path, on_release_1: Station, release_server: ReleaseServer,
    fleet_key: tuple[Path, Path],
) -> None:  # fmt: skip
    url2 = release(tmp_path, release_server, fleet_key[0], 2, "2.0.0")
    url3 = release(tmp_path, release_server, fleet_key[0], 3, "3.0.0")
    # A mirror serves release 3's manifest with release 2's app wheel under 3's name.
    wheels3 = release_server.directory / "3-3.0.0" / "wheels"
    app2 = release_server.directory / "2-2.0.0" / "wheels" / "hkfakeapp-2.0.0-py3-none-any.whl"
    shutil.copy(app2, wheels3 / "hkfakeapp-3.0.0-py3-none-any.whl")
    assert url2 != url3
    result = updater(on_release_1).apply(url3)
    assert_still_on_1(on_release_1, result, "hash_mismatch")
    assert "another release" in result.detail


def test_a_release_that_crashes_on_start_is_rolled_back_after_three_tries(
    tmp_path: Path, on_release_1: Station, release_server: ReleaseServer,
    fleet_key: tuple[Path, Path],
) -> None:  # fmt: skip
    st = on_release_1
    url = release(tmp_path, release_server, fleet_key[0], 2, "2.0.0", mode="crash")
    events: list[ProgressEvent] = []
    result = updater(st, events).apply(url)
    assert result.outcome == "rolled_back"
    assert "crashed on start 3 times" in result.reason
    assert [e.detail for e in events if e.step == Step.FIRST_START and "start " in e.detail] == [
        "start 1/3", "start 2/3", "start 3/3"
    ]  # fmt: skip
    assert st.current() == "releases/1-1.0.0"
    assert "back on release 1" in result.detail
    _assert_serving(st, "1.0.0")
    # The bad release is not tried again.
    again = updater(st).apply(url)
    assert (again.outcome, again.reason) == ("refused", "bad_release")


def test_a_release_that_hangs_without_ready_is_rolled_back(
    tmp_path: Path, on_release_1: Station, release_server: ReleaseServer,
    fleet_key: tuple[Path, Path],
) -> None:  # fmt: skip
    st = on_release_1
    url = release(tmp_path, release_server, fleet_key[0], 2, "2.0.0", mode="hang")
    result = updater(st, ready=2.0).apply(url)
    assert result.outcome == "rolled_back"
    assert result.reason.startswith("hangs without READY")
    assert st.current() == "releases/1-1.0.0"
    _assert_serving(st, "1.0.0")


def test_a_release_that_dies_inside_the_window_is_rolled_back(
    tmp_path: Path, on_release_1: Station, release_server: ReleaseServer,
    fleet_key: tuple[Path, Path],
) -> None:  # fmt: skip
    st = on_release_1
    url = release(tmp_path, release_server, fleet_key[0], 2, "2.0.0", mode="die_in_window")
    result = updater(st, window=2.0).apply(url)
    assert result.outcome == "rolled_back"
    assert "died inside the stability window" in result.reason
    assert st.current() == "releases/1-1.0.0"
    _assert_serving(st, "1.0.0")


def test_an_update_waits_for_the_visit_to_end(
    tmp_path: Path, on_release_1: Station, release_server: ReleaseServer,
    fleet_key: tuple[Path, Path],
) -> None:  # fmt: skip
    st = on_release_1
    url = release(tmp_path, release_server, fleet_key[0], 2, "2.0.0")
    visit = VisitLock(st.visit_lock)
    assert visit.begin()  # an elder has checked in
    events: list[ProgressEvent] = []
    results: list[Result] = []
    worker = threading.Thread(target=lambda: results.append(updater(st, events).apply(url)))
    worker.start()
    time.sleep(1.5)
    assert [e.step for e in events] == [Step.WAIT_VISIT]
    assert st.current() == "releases/1-1.0.0"
    visit.end()  # the visit ends
    worker.join(timeout=60)
    assert results and results[0].outcome == "installed"
    assert st.current() == "releases/2-2.0.0"
    # While the updater switched, the kiosk could not begin a visit: it held the lock.
    assert VisitLock(st.visit_lock).begin() is True


def _assert_serving(st: Station, version: str) -> None:
    from healthkiosk import health

    rep = health.read(st.health, "kiosk")
    assert rep is not None and rep.state == "ready"
    assert health.pid_alive(rep.pid)
    assert rep.prefix == str((st.root / "current").resolve())
    assert st.current_runs() == version


def test_the_running_release_is_up_to_date_until_its_signature_expires(
    tmp_path: Path, on_release_1: Station, release_server: ReleaseServer,
    fleet_key: tuple[Path, Path],
) -> None:  # fmt: skip
    st = on_release_1
    url1 = release_server.manifest_url("1-1.0.0/manifest.json")
    result = updater(st).apply(url1)
    assert (result.outcome, result.release) == ("up_to_date", 1)
    # A frozen mirror keeps serving release 1's manifest after it expired.
    shutil.rmtree(release_server.directory / "1-1.0.0")
    url = release(
        tmp_path / "frozen", release_server, fleet_key[0], 1, "1.0.0",
        now=datetime.now(UTC) - timedelta(days=31), expires_in=timedelta(days=30),
    )  # fmt: skip
    assert url == url1
    result = updater(st).apply(url1)
    assert (result.outcome, result.reason) == ("refused", "expired")
    assert "cannot confirm freshness" in result.detail
    assert st.current_runs() == "1.0.0"


def test_a_dropped_download_is_kept_and_resumed_by_the_next_run(
    tmp_path: Path, on_release_1: Station, release_server: ReleaseServer,
    fleet_key: tuple[Path, Path],
) -> None:  # fmt: skip
    st = on_release_1
    url = release(tmp_path, release_server, fleet_key[0], 2, "2.0.0", padding=300_000)
    wheel = next((release_server.directory / "2-2.0.0" / "wheels").glob("hkfakeapp-*.whl"))
    whole = wheel.read_bytes()
    wheel.write_bytes(whole[: len(whole) // 2])  # the server has only half of it for now
    events: list[ProgressEvent] = []
    result = updater(st, events).apply(url)
    assert (result.outcome, result.reason) == ("interrupted", "unavailable")
    # The cut was retried at once with a Range the short file cannot answer (416: no retry).
    retried = [e.detail for e in events if "attempt 2 of 6" in e.detail]
    assert len(retried) == 1 and "server closed after" in retried[0]
    part = st.root / "downloads" / "2-2.0.0" / "files" / "wheels" / (wheel.name + ".part")
    assert part.stat().st_size == len(whole) // 2
    assert st.current() == "releases/1-1.0.0"
    wheel.write_bytes(whole)
    result = updater(st, window=0.3).apply(url)
    assert (result.outcome, result.release) == ("installed", 2)
    assert st.current_runs() == "2.0.0"


def test_a_pending_update_whose_downloads_vanished_is_abandoned(on_release_1: Station) -> None:
    from updater import state

    st = state.load(on_release_1.root / state.STATE_NAME)
    st.pending = state.Pending(2, "2.0.0", "2-2.0.0", "http://x/2-2.0.0/manifest.json",
                               "download", st.current)  # fmt: skip
    state.save(on_release_1.root / state.STATE_NAME, st)
    result = updater(on_release_1).resume()
    assert (result.outcome, result.release) == ("abandoned", 2)
    assert state.load(on_release_1.root / state.STATE_NAME).pending is None
    assert on_release_1.current_runs() == "1.0.0"
