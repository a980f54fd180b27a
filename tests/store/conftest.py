from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from sync.store.db import open_store
from sync.store.idhash import IdHasher


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "kiosk.sqlite"


@pytest.fixture
def factory(store_file: Path) -> sessionmaker[Session]:
    f = open_store(store_file)
    yield f
    bind = f.kw["bind"]
    bind.dispose()


@pytest.fixture
def hasher(tmp_path: Path) -> IdHasher:
    return IdHasher.from_file(tmp_path / "data" / "id-hash.key")
