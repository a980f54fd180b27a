"""The updater's settings from the station's configuration (``[update]``)."""

from __future__ import annotations

from healthkiosk import health, visitlock
from healthkiosk.config import Config
from updater import keys
from updater.updater import UpdaterSettings


def from_config(cfg: Config) -> UpdaterSettings:
    u = cfg.update
    return UpdaterSettings(
        root=u.root,
        name=u.name,
        trusted_keys=keys.load_trusted(list(u.trusted_keys)),
        restart_command=tuple(u.restart_command),
        health_dir=health.dir_for(cfg),
        health_units=tuple(u.health_units),
        visit_lock=visitlock.path_for(cfg),
        ready_timeout_s=u.ready_timeout_s,
        stability_window_s=u.stability_window_s,
        max_start_tries=u.max_start_tries,
        download_deadline_s=u.download_deadline_s,
        read_timeout_s=u.read_timeout_s,
        download_retries=u.download_retries,
        retry_backoff_s=u.retry_backoff_s,
        visit_wait_s=u.visit_wait_s,
    )
