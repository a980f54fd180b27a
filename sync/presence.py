"""Ordering of ``hk.status/1`` messages: a stale retained message never wins.

A station's status carries ``boot_id`` = ``<boot number>-<random>`` where the
boot number grows with every start of its sync process (kept in the store),
and ``seq``, which grows within one boot. Within one boot each connection
``c`` numbers its statuses ``c * CONNECTION_STRIDE + k`` and registers its last
will with ``c * CONNECTION_STRIDE + WILL_OFFSET``: the will outranks every
status of its own connection and is outranked by the next connection's.
"""

from __future__ import annotations

import secrets

CONNECTION_STRIDE = 1_000_000
WILL_OFFSET = CONNECTION_STRIDE - 1


def new_boot_id(boot_number: int) -> str:
    return f"{boot_number:010d}-{secrets.token_hex(4)}"


def boot_number(boot_id: str) -> int:
    head, _, _ = boot_id.partition("-")
    return int(head) if head.isdigit() else -1


def order_key(boot_id: str, seq: int) -> tuple[int, int]:
    """Compare two statuses of one station: the larger key is newer."""
    return (boot_number(boot_id), seq)


def is_newer(boot_id: str, seq: int, *, than_boot: str | None, than_seq: int | None) -> bool:
    if than_boot is None or than_seq is None:
        return True
    return order_key(boot_id, seq) > order_key(than_boot, than_seq)
