"""Fixtures shared by every test directory: PostgreSQL, one database per test.

One server per test session: the one named by $HEALTHKIOSK_TEST_POSTGRES_URL, else a
throwaway cluster from Debian's binaries (:class:`tests.support.synckit.PgCluster`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.synckit import PgCluster, create_database, drop_database

# Fixtures more than one test directory uses live in tests/support/fixtures/
# and are registered here for the whole tree.
pytest_plugins = [  # a plugin another one imports comes first
    "tests.support.fixtures.ble",
    "tests.support.fixtures.broker",
    "tests.support.fixtures.gui",
    "tests.support.fixtures.store",
    "tests.support.fixtures.updater",
    "tests.support.fixtures.web",
    "tests.support.fixtures.fleet",
]

PG_ENV = "HEALTHKIOSK_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A PostgreSQL server: the one named by $HEALTHKIOSK_TEST_POSTGRES_URL, else a
    throwaway cluster started from Debian's binaries as an unprivileged user."""
    url = os.environ.get(PG_ENV)
    if url:
        yield url
        return
    cluster = PgCluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database for this test, dropped after it."""
    name = f"hk_test_{uuid.uuid4().hex[:12]}"
    yield create_database(pg_admin_url, name)
    drop_database(pg_admin_url, name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def followup_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The follow-up database, once on SQLite and once on PostgreSQL (its own database)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'followup.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))
