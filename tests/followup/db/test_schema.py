"""Several followup processes (ingest workers, the web app) start at once: the
schema is created once, and none of them fails on the race."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import inspect

from followup.db.engine import make_engine


@pytest.mark.postgres
def test_concurrent_schema_creation_on_postgresql(postgres_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def worker() -> None:
        start.wait()
        try:
            make_engine(postgres_url).dispose()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    engine = make_engine(postgres_url, create=False)
    try:
        assert {"stations", "residents", "readings", "dead_letters"} <= set(
            inspect(engine).get_table_names()
        )
    finally:
        engine.dispose()
