"""The KioskStore facade, SQLite's own "disk full", device-event masking."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from healthkiosk.config import load_config
from healthkiosk.errors import StoreFullError
from sync.store.devices import recent_device_events, record_device_event
from sync.store.idhash import IdHasher
from sync.store.kiosk_store import KioskStore
from sync.store.models import OutboxEntry, Reading
from sync.store.readings import save_reading
from tests.store.builders import (
    BP_CLASS,
    GLU_CLASS,
    bp_average,
    glucose,
    make_id,
    resident,
    write_config,
)


async def test_facade_from_config_used_from_the_loop(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, retention_days=7))
    store = KioskStore.open(cfg)
    with store:
        visit = await asyncio.to_thread(store.start_visit, resident())
        saved = await asyncio.to_thread(
            lambda: store.save_reading(
                resident=resident(), reading=bp_average(), classification=BP_CLASS, visit_id=visit
            )
        )
        await asyncio.to_thread(store.end_visit, visit, outcome="completed")
        store.set_cursor("gm55:G9", 4)
        assert store.get_cursor("gm55:G9") == 4
        stats = store.stats()
        assert saved.station_seq == 1 and stats.readings == 1 and stats.visits == 1
        assert stats.outbox_backlog == 1 and stats.store_size_mb > 0 and stats.disk_free_mb > 0
        assert store.purge().readings == 0  # nothing delivered yet
    store.close()  # idempotent
    assert cfg.id_hash_key_path.exists() and (tmp_path / "data" / "kiosk.sqlite").exists()


def test_sqlite_disk_full_is_a_store_full_error_and_writes_nothing(
    factory: sessionmaker[Session], hasher: IdHasher
) -> None:
    save_reading(
        factory,
        hasher=hasher,
        resident=resident(),
        reading=glucose(),
        classification=GLU_CLASS,
        min_free_mb=1,
    )
    engine = factory.kw["bind"]
    engine.dispose()

    @event.listens_for(engine, "connect")
    def _cap(dbapi_conn: object, _rec: object) -> None:
        cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
        pages = cur.execute("PRAGMA page_count").fetchone()[0]
        cur.execute(f"PRAGMA max_page_count = {pages}")  # the "disk" is full now
        cur.close()

    big = bp_average(((150, 95, 70), (152, 96, 71), (149, 94, 72)))
    with pytest.raises(StoreFullError):
        for i in range(200):  # enough rows to need a new page
            save_reading(
                factory,
                hasher=hasher,
                resident=resident(make_id(seq=i)),
                reading=big,
                classification=BP_CLASS,
                min_free_mb=1,
            )
    event.remove(engine, "connect", _cap)
    engine.dispose()
    with factory() as s:
        n = s.scalar(select(func.count()).select_from(Reading))
        assert n == s.scalar(
            select(func.count()).select_from(OutboxEntry)
        )  # never one without the other


def test_device_event_details_never_keep_an_id_number(factory: sessionmaker[Session]) -> None:
    number = make_id(seq=5)
    record_device_event(
        factory, device="sam-idcard /dev/ttyUSB1", kind="bad_frame", detail={"text": f"id={number}"}
    )
    (ev,) = recent_device_events(factory)
    assert number not in json.dumps(ev.detail) and ev.detail == {
        "text": f"id={number[:3]}{'*' * 11}{number[-4:]}"
    }
