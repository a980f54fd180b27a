"""The station updater: one release from manifest to a healthy, running version.

Steps (each recorded in the state file *before* it begins, each reported to the
progress callback):

1. ``wait_visit`` — no update starts while an elder's visit is in progress;
2. ``download`` — the signed manifest, then every file it lists (bounded,
   resumable, hash-checked; see :mod:`updater.download`);
3. ``verify`` — the manifest's signature, expiry and release number again from
   disk, and every file's hash and length: only the listed files of this one
   manifest go on (no mix-and-match);
4. ``install`` — a new venv ``<root>/releases/<release>-<version>/``;
5. ``switch`` — waits for any visit to end, holds the visit lock, and points
   ``current`` at the new directory atomically;
6. ``first_start`` — runs the restart command and waits for READY from every
   health unit of the new directory (a crash before READY is retried, at most
   ``max_start_tries`` starts in all; no READY in time is a hang);
7. ``stability`` — the processes must stay up, same pid, for the window.

A failure in 6 or 7 switches ``current`` back, restarts the previous release,
records the release as bad here and reports the reason (``rollback``).

After a SIGKILL at any point, :meth:`Updater.resume` (run at boot by
``healthkiosk-update.service`` and at the start of every apply) finds the
pending step in the state file: before ``switch`` the station still runs the
old release, and the update continues from the download (partial files are
resumed, everything is verified again); from ``switch`` on it continues with
the switch (idempotent) and a fresh health check, which rolls back on failure.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from healthkiosk import health, visitlock
from healthkiosk.atomicfile import write_atomic
from healthkiosk.errors import UpdateError, UpdateRefusedError
from updater import download, install, manifest, state
from updater.manifest import Manifest, Refusal
from updater.state import Installed, Outcome, Pending, Step, UpdaterState

log = logging.getLogger(__name__)

RELEASES = "releases"
DOWNLOADS = "downloads"


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    step: Step
    release: int | None
    detail: str = ""
    done: int | None = None
    total: int | None = None


ProgressCallback = Callable[[ProgressEvent], None]
DrillHook = Callable[[Step], None]
"""Called in the middle of each step (fault-injection drills stop the process there)."""


@dataclass(frozen=True, slots=True)
class UpdaterSettings:
    root: Path
    """``/opt/healthkiosk``: holds ``releases/``, ``current``, downloads and the state."""
    trusted_keys: Mapping[str, Ed25519PublicKey]
    restart_command: Sequence[str]
    health_dir: Path
    health_units: Sequence[str]
    visit_lock: Path
    name: str = "healthkiosk"
    ready_timeout_s: float = 120.0
    stability_window_s: float = 60.0
    max_start_tries: int = 3
    download_deadline_s: float = 1800.0
    read_timeout_s: float = 20.0
    download_retries: int = 5
    retry_backoff_s: float = 2.0
    visit_wait_s: float = 4 * 3600.0
    restart_timeout_s: float = 120.0
    install_timeout_s: float = 900.0
    keep_releases: int = 2
    python: str = field(default_factory=lambda: sys.executable)

    @property
    def state_path(self) -> Path:
        return self.root / state.STATE_NAME


@dataclass(frozen=True, slots=True)
class Result:
    outcome: str
    """``installed``, ``up_to_date``, ``rolled_back``, ``refused``, ``interrupted``
    (download cut short or too slow: partial files kept, the next run resumes),
    ``abandoned`` (a pending update whose downloads vanished) or ``nothing_pending``."""
    release: int | None
    version: str = ""
    reason: str = ""
    detail: str = ""


class Updater:
    def __init__(
        self,
        settings: UpdaterSettings,
        *,
        progress: ProgressCallback | None = None,
        drill: DrillHook | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.s = settings
        self._progress = progress
        self._drill = drill
        self._now = now
        self._ready_pids: dict[str, int] | None = None

    # --- public -----------------------------------------------------------

    def status(self) -> UpdaterState:
        st = state.load(self.s.state_path)
        if st.current is None:
            name = install.current_target(self.s.root)
            if name is not None:
                st.current = _installed_from_dir(name)
        return st

    def apply(self, manifest_url: str) -> Result:
        """Bring the station to the release ``manifest_url`` describes, or refuse."""
        with self._exclusive():
            resumed = self._resume_locked()
            st = self.status()
            self._report(Step.WAIT_VISIT, None, "waiting for no visit in progress")
            visitlock.wait_for_no_visit(self.s.visit_lock, timeout_s=self.s.visit_wait_s).end()
            limits = self._limits()
            try:
                raw = download.fetch_bytes(
                    manifest_url,
                    max_bytes=manifest.MAX_MANIFEST_BYTES,
                    limits=limits,
                    on_retry=self._retrying(None),
                )
                man = self._verify_manifest(raw, st)
            except UpdateRefusedError as err:
                if resumed.outcome != "nothing_pending" and resumed.release == err.release:
                    return resumed  # resuming an interrupted run just finished this release
                if (
                    err.reason == Refusal.DOWNGRADE
                    and st.current is not None
                    and err.release == st.current.release
                ):
                    # A fresh (unexpired) signature for what runs here: nothing to do.
                    self._report(Step.DONE, err.release, "up to date")
                    return Result("up_to_date", err.release, st.current.version)
                return self._refused(st, err)
            staging = self._staging(man)
            staging.mkdir(parents=True, exist_ok=True)
            write_atomic(staging / manifest.MANIFEST_NAME, raw)
            st.pending = Pending(
                release=man.release,
                version=man.version,
                dir=man.dir_name,
                manifest_url=manifest_url,
                step=Step.DOWNLOAD,
                previous=st.current,
            )
            self._save(st)
            return self._run_pending(st, limits)

    def resume(self) -> Result:
        """Finish or undo an update a killed updater left behind."""
        with self._exclusive():
            return self._resume_locked()

    def rollback_if_pending(self, reason: str) -> Result:
        """For ``OnFailure=``: roll back an update that is switched but not yet proven."""
        try:
            ctx = self._exclusive(wait=False)
            ctx.__enter__()
        except UpdateError:
            return Result("nothing_pending", None, detail="the updater is running and watches")
        try:
            st = self.status()
            p = st.pending
            if p is None or p.step not in (Step.SWITCH, Step.FIRST_START, Step.STABILITY):
                return Result("nothing_pending", None, detail="no unproven update to roll back")
            return self._rollback(st, reason)
        finally:
            ctx.__exit__(None, None, None)

    # --- steps ------------------------------------------------------------

    def _resume_locked(self) -> Result:
        st = self.status()
        p = st.pending
        if p is None:
            return Result("nothing_pending", None)
        log.warning("resuming release %s at step %s", p.release, p.step)
        if p.step == Step.ROLLBACK:
            return self._rollback(st, p.rollback_reason or "resumed rollback")
        return self._run_pending(st, self._limits())

    def _run_pending(self, st: UpdaterState, limits: download.Limits) -> Result:
        p = st.pending
        assert p is not None
        staging = self.s.root / DOWNLOADS / p.dir
        release_dir = self.s.root / RELEASES / p.dir
        before_switch = p.step in (Step.DOWNLOAD, Step.VERIFY, Step.INSTALL, Step.WAIT_VISIT)
        if p.step == Step.SWITCH and not install.is_installed(release_dir):
            before_switch = True  # killed between the marker check and the switch record
        if before_switch and not (staging / manifest.MANIFEST_NAME).is_file():
            # The downloads are gone (cleaned by hand?): nothing was switched, start afresh.
            st.pending = None
            st.last = Outcome(p.release, p.version, "abandoned", "", "downloads missing")
            self._save(st)
            return Result("abandoned", p.release, p.version, detail="downloads missing")
        try:
            if before_switch:
                man = self._verify_manifest((staging / manifest.MANIFEST_NAME).read_bytes(), st)
                self._set_step(st, Step.DOWNLOAD)
                self._download(man, p.manifest_url, staging, limits)
                self._set_step(st, Step.VERIFY)
                man = self._verify_manifest((staging / manifest.MANIFEST_NAME).read_bytes(), st)
                self._verify_files(man, staging)
                self._set_step(st, Step.INSTALL)
                install.install(
                    release_dir,
                    wheels=sorted(
                        {
                            (staging / "files" / f.path).parent
                            for f in man.files
                            if f.path.endswith(".whl")
                        }
                    ),
                    requirement=man.requirement,
                    python=self.s.python,
                    timeout_s=self.s.install_timeout_s,
                    midway=lambda: self._mid(Step.INSTALL),
                )
                self._set_step(st, Step.SWITCH)
        except UpdateRefusedError as err:
            if err.reason in (Refusal.UNAVAILABLE, Refusal.DEADLINE):
                # Keep the partial files and the pending record: the next run resumes.
                st.last = Outcome(p.release, p.version, "interrupted", err.reason, str(err))
                self._save(st)
                self._report(Step.DONE, p.release, f"interrupted ({err.reason}): {err}")
                return Result("interrupted", p.release, p.version, err.reason, str(err))
            st.pending = None
            shutil.rmtree(staging, ignore_errors=True)
            return self._refused(st, err)
        except (UpdateError, FileNotFoundError) as err:
            # Not the release's fault (disk, pip): keep the pending record to retry.
            self._report(Step.INSTALL, p.release, f"failed, will retry: {err}")
            raise

        lock = visitlock.wait_for_no_visit(self.s.visit_lock, timeout_s=self.s.visit_wait_s)
        try:
            if p.step == Step.SWITCH:
                self._report(Step.SWITCH, p.release, f"current -> {RELEASES}/{p.dir}")
                install.switch(self.s.root, p.dir, midway=lambda: self._mid(Step.SWITCH))
                self._set_step(st, Step.FIRST_START)
            else:
                install.switch(self.s.root, p.dir)  # idempotent after a kill
            failure = self._first_start(p.release, release_dir)
        finally:
            lock.end()
        if failure is None:
            self._set_step(st, Step.STABILITY)
            failure = self._stability(p.release, release_dir)
        if failure is not None:
            return self._rollback(st, failure)
        return self._succeeded(st)

    def _verify_manifest(self, raw: bytes, st: UpdaterState) -> Manifest:
        pending_release = st.pending.release if st.pending else None
        installed = st.highest_release or (st.current.release if st.current else 0)
        man = manifest.verify(
            raw,
            trusted_keys=self.s.trusted_keys,
            now=self._now(),
            installed_release=installed or None,
            expected_name=self.s.name,
        )
        if man.release in st.bad_releases:
            raise UpdateRefusedError(
                f"release {man.release} failed its health check here before",
                reason=Refusal.BAD_RELEASE.value,
                release=man.release,
            )
        if pending_release is not None and man.release != pending_release:
            raise UpdateRefusedError(
                f"stored manifest is release {man.release}, expected {pending_release}",
                reason=Refusal.MALFORMED.value,
                release=man.release,
            )
        return man

    def _download(
        self, man: Manifest, manifest_url: str, staging: Path, limits: download.Limits
    ) -> None:
        base = manifest_url.rsplit("/", 1)[0]
        total = sum(f.length for f in man.files)
        done = 0
        drilled = False
        for entry in man.files:

            def progress(
                have: int, length: int, *, _before: int = done, _path: str = entry.path
            ) -> None:
                nonlocal drilled
                self._report(Step.DOWNLOAD, man.release, _path, _before + have, total)
                if not drilled:
                    drilled = True
                    self._mid(Step.DOWNLOAD)

            download.fetch_file(
                f"{base}/{entry.path}",
                staging / "files" / entry.path,
                entry,
                limits=limits,
                progress=progress,
                on_retry=self._retrying(man.release),
            )
            done += entry.length
        self._report(Step.DOWNLOAD, man.release, "all files in", total, total)

    def _verify_files(self, man: Manifest, staging: Path) -> None:
        files = staging / "files"
        listed = {f.path for f in man.files}
        for path in sorted(files.rglob("*")):
            rel = path.relative_to(files).as_posix()
            if path.is_file() and rel not in listed:
                path.unlink()  # only this manifest's files may reach pip
        for entry in man.files:
            path = files / entry.path
            if not path.is_file() or path.stat().st_size != entry.length:
                raise UpdateRefusedError(
                    f"{entry.path}: not the signed length", reason=Refusal.LENGTH_MISMATCH.value,
                    release=man.release,
                )  # fmt: skip
            if download._sha256_of(path) != entry.sha256:
                raise UpdateRefusedError(
                    f"{entry.path} does not match the signed manifest",
                    reason=Refusal.HASH_MISMATCH.value,
                    release=man.release,
                )
        self._mid(Step.VERIFY)
        self._report(Step.VERIFY, man.release, f"{len(man.files)} files match the signed manifest")

    def _restart(self, release: int | None) -> None:
        env = {
            **os.environ,
            "HEALTHKIOSK_ROOT": str(self.s.root),
            health.ENV_HEALTH_DIR: str(self.s.health_dir),
        }
        try:
            proc = subprocess.run(
                list(self.s.restart_command),
                check=False,
                env=env,
                capture_output=True,
                text=True,
                timeout=self.s.restart_timeout_s,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            self._report(Step.FIRST_START, release, f"restart command failed: {err}")
            return
        if proc.returncode != 0:
            self._report(Step.FIRST_START, release, f"restart command exit {proc.returncode}")

    def _first_start(self, release: int, release_dir: Path) -> str | None:
        units = list(self.s.health_units)
        detail = ""
        for attempt in range(1, self.s.max_start_tries + 1):
            health.clear(self.s.health_dir, units)
            self._report(Step.FIRST_START, release, f"start {attempt}/{self.s.max_start_tries}")
            self._restart(release)
            if attempt == 1:
                self._mid(Step.FIRST_START)
            result, pids, detail = health.wait_ready(
                self.s.health_dir, units, prefix=release_dir, timeout_s=self.s.ready_timeout_s
            )
            if result is health.StartResult.READY:
                self._report(Step.FIRST_START, release, f"READY (pids {sorted(pids.values())})")
                self._ready_pids = pids
                return None
            if result is health.StartResult.NO_READY:
                return f"hangs without READY: {detail}"
            self._report(Step.FIRST_START, release, f"crashed on start: {detail}")
        return f"crashed on start {self.s.max_start_tries} times: {detail}"

    def _stability(self, release: int, release_dir: Path) -> str | None:
        units = list(self.s.health_units)
        pids = self._ready_pids
        if pids is None:  # resumed into the window after a kill: look again
            result, pids, detail = health.wait_ready(
                self.s.health_dir, units, prefix=release_dir, timeout_s=self.s.ready_timeout_s
            )
            if result is not health.StartResult.READY:
                return detail
        self._report(Step.STABILITY, release, f"watching for {self.s.stability_window_s:g} s")
        self._mid(Step.STABILITY)
        return health.watch_stable(self.s.health_dir, pids, window_s=self.s.stability_window_s)

    def _rollback(self, st: UpdaterState, reason: str) -> Result:
        p = st.pending
        assert p is not None
        p.step = Step.ROLLBACK
        p.rollback_reason = reason
        self._save(st)
        self._report(Step.ROLLBACK, p.release, reason)
        prev = p.previous
        detail = ""
        if prev is not None and install.is_installed(self.s.root / RELEASES / prev.dir):
            lock = visitlock.wait_for_no_visit(self.s.visit_lock, timeout_s=self.s.visit_wait_s)
            try:
                install.switch(self.s.root, prev.dir)
                self._ready_pids = None
                health.clear(self.s.health_dir, list(self.s.health_units))
                self._restart(prev.release)
                result, _, d = health.wait_ready(
                    self.s.health_dir,
                    list(self.s.health_units),
                    prefix=self.s.root / RELEASES / prev.dir,
                    timeout_s=self.s.ready_timeout_s,
                )
            finally:
                lock.end()
            detail = (
                f"back on release {prev.release}"
                if result is health.StartResult.READY
                else f"previous release {prev.release} is not healthy either: {d}"
            )
        else:
            detail = "no previous release to switch back to"
        if p.release not in st.bad_releases:
            st.bad_releases.append(p.release)
        st.current = prev
        st.pending = None
        st.last = Outcome(p.release, p.version, "rolled_back", reason, detail)
        self._save(st)
        self._report(Step.DONE, p.release, f"rolled back: {reason}; {detail}")
        return Result("rolled_back", p.release, p.version, reason, detail)

    def _succeeded(self, st: UpdaterState) -> Result:
        p = st.pending
        assert p is not None
        st.current = Installed(p.release, p.version, p.dir)
        st.highest_release = max(st.highest_release, p.release)
        st.pending = None
        st.last = Outcome(p.release, p.version, "installed")
        self._save(st)
        install.switch(self.s.root, p.dir, link=install.STABLE)
        self._cleanup(st, previous=p.previous)
        self._report(Step.DONE, p.release, f"release {p.release} ({p.version}) installed")
        return Result("installed", p.release, p.version)

    def _refused(self, st: UpdaterState, err: UpdateRefusedError) -> Result:
        release = err.release if err.release is not None else 0
        st.last = Outcome(release, "", "refused", err.reason, str(err))
        self._save(st)
        self._report(Step.DONE, err.release, f"refused ({err.reason}): {err}")
        return Result("refused", err.release, reason=err.reason, detail=str(err))

    def _cleanup(self, st: UpdaterState, *, previous: Installed | None) -> None:
        keep = {d.dir for d in (st.current, previous) if d is not None}
        stable = install.current_target(self.s.root, link=install.STABLE)
        if stable is not None:
            keep.add(stable)
        shutil.rmtree(self.s.root / DOWNLOADS, ignore_errors=True)
        releases = self.s.root / RELEASES
        if releases.is_dir():
            for child in releases.iterdir():
                if child.name not in keep:
                    shutil.rmtree(child, ignore_errors=True)

    # --- plumbing ---------------------------------------------------------

    def _limits(self) -> download.Limits:
        return download.Limits(
            deadline=time.monotonic() + self.s.download_deadline_s,
            read_timeout_s=self.s.read_timeout_s,
            retries=self.s.download_retries,
            backoff_s=self.s.retry_backoff_s,
        )

    def _staging(self, man: Manifest) -> Path:
        return self.s.root / DOWNLOADS / man.dir_name

    def _set_step(self, st: UpdaterState, step: Step) -> None:
        assert st.pending is not None
        st.pending.step = step
        self._save(st)
        self._report(step, st.pending.release, "begins")

    def _save(self, st: UpdaterState) -> None:
        self.s.root.mkdir(parents=True, exist_ok=True)
        state.save(self.s.state_path, st)

    def _report(
        self,
        step: Step,
        release: int | None,
        detail: str = "",
        done: int | None = None,
        total: int | None = None,
    ) -> None:
        if self._progress is not None:
            self._progress(ProgressEvent(step, release, detail, done, total))

    def _retrying(self, release: int | None) -> download.Retrying:
        def report(attempt: int, wait_s: float, err: UpdateRefusedError) -> None:
            self._report(
                Step.DOWNLOAD,
                release,
                f"{err}; attempt {attempt} of {self.s.download_retries + 1} in {wait_s:g} s",
            )

        return report

    def _mid(self, step: Step) -> None:
        if self._drill is not None:
            self._drill(step)

    def _exclusive(self, *, wait: bool = True) -> _UpdaterLock:
        return _UpdaterLock(self.s.root / "updater.lock", wait=wait)


class _UpdaterLock:
    """One updater at a time per root (``flock``; dropped by the kernel on SIGKILL)."""

    def __init__(self, path: Path, *, wait: bool) -> None:
        self.path = path
        self.wait = wait
        self.fd: int | None = None

    def __enter__(self) -> _UpdaterLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise UpdateError("another updater is running", reason="updater_busy") from None
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _installed_from_dir(name: str) -> Installed:
    release, _, version = name.partition("-")
    return Installed(int(release) if release.isdigit() else 0, version or name, name)
