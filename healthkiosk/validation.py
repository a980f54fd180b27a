"""Validating what comes from outside: one way, pydantic.

Messages, configuration, state files read back, remote documents and
release manifests are validated by pydantic models (or a
:class:`~pydantic.TypeAdapter` over a frozen dataclass). This module holds the
two things every reader shares: naming the key a problem is at, and reading a
JSON file into a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import TypeAdapter, ValidationError

T = TypeVar("T")


def key_of(loc: tuple[int | str, ...]) -> str:
    """``("mqtt", "port")`` → ``"mqtt.port"``."""
    return ".".join(str(p) for p in loc)


def describe(err: ValidationError) -> str:
    """The first problem, naming its key: ``"release: Input should be ..."``."""
    first = err.errors()[0]
    key = key_of(first["loc"])
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{key}: {first['msg']}{more}" if key else f"{first['msg']}{more}"


def read_json(path: Path, adapter: TypeAdapter[T]) -> T:
    """The JSON file at ``path`` validated by ``adapter``.

    Raises :class:`FileNotFoundError` (or another :class:`OSError`) when it
    cannot be read, :class:`~pydantic.ValidationError` (a ``ValueError``) when
    it is not JSON or not the expected shape."""
    return adapter.validate_json(path.read_bytes())
