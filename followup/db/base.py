"""Declarative base of the follow-up database; every table module uses it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy.orm import DeclarativeBase

from healthkiosk.dbtypes import UtcDateTime, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime}
