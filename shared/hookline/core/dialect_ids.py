"""Each dialect's id of a subscription, derived from its integer id: no lookup table.

- Orderspace: ``wh_`` + 8 of ``0-9a-z``: the id, scrambled in 40 bits, in base 36.
- ShareActor: 24 hex digits (a MongoDB ObjectId): the creation time (Unix seconds,
  8 hex digits, as MongoDB's start), then the id (16 hex digits).
- Booqable: a UUID of version 8 (RFC 9562): a fixed prefix, then the id scrambled
  in 62 bits.

Every ``decode_*`` is total: a string of another shape, or one no id makes, gives
None (the API's 404), never an exception. The scrambling is a bijection (multiplying
by an odd number modulo a power of two), so neighbouring ids do not look alike; it
hides nothing (tenant isolation does that), it only looks like the source APIs' ids.
An ObjectId also carries the creation second; ``decode_object_id`` gives both, and a
reader checks the second against the subscription's (``object_id(...) == text``).
"""

from __future__ import annotations

import re
import uuid

_ORDERSPACE_BITS = 40
_ORDERSPACE_MUL = 0x9E3779B97F & ((1 << _ORDERSPACE_BITS) - 1) | 1
_ORDERSPACE_INV = pow(_ORDERSPACE_MUL, -1, 1 << _ORDERSPACE_BITS)
_ORDERSPACE = re.compile(r"wh_[0-9a-z]{8}")
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
MAX_ORDERSPACE_ID = (1 << _ORDERSPACE_BITS) - 1

_OBJECT_ID = re.compile(r"[0-9a-f]{24}")
MAX_OBJECT_ID = (1 << 63) - 1

_UUID_BITS = 62
_UUID_MUL = 0x5851F42D4C957F2D & ((1 << _UUID_BITS) - 1) | 1
_UUID_INV = pow(_UUID_MUL, -1, 1 << _UUID_BITS)
_UUID_PREFIX = 0x686F6F6B6C69  # 48 bits: "hookli"
_UUID_FIXED = (_UUID_PREFIX << 80) | (0x8 << 76) | (0b10 << 62)
_UUID_FIXED_MASK = ((1 << 48) - 1) << 80 | (0xFFFF << 64) | (0b11 << 62)
_UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def orderspace_id(n: int) -> str:
    """``wh_`` + 8 base-36 digits; ids from 0 to ``MAX_ORDERSPACE_ID``."""
    if not 0 <= n <= MAX_ORDERSPACE_ID:
        raise ValueError(f"id {n} is beyond Orderspace ids (at most {MAX_ORDERSPACE_ID})")
    x = (n * _ORDERSPACE_MUL) & MAX_ORDERSPACE_ID
    digits = []
    for _ in range(8):
        x, d = divmod(x, 36)
        digits.append(_BASE36[d])
    return "wh_" + "".join(reversed(digits))


def decode_orderspace_id(text: str) -> int | None:
    if not _ORDERSPACE.fullmatch(text):
        return None
    x = int(text[3:], 36)
    if x > MAX_ORDERSPACE_ID:
        return None
    return (x * _ORDERSPACE_INV) & MAX_ORDERSPACE_ID


def object_id(n: int, created_at: float) -> str:
    """A MongoDB ObjectId: the creation second (as MongoDB's do), then the id."""
    if not 0 <= n <= MAX_OBJECT_ID:
        raise ValueError(f"id {n} is out of range")
    seconds = int(created_at) & 0xFFFFFFFF
    return f"{seconds:08x}{n:016x}"


def decode_object_id(text: str) -> tuple[int, int] | None:
    """(id, creation second) of an ObjectId this module made, else None."""
    if not _OBJECT_ID.fullmatch(text):
        return None
    n = int(text[8:], 16)
    if n > MAX_OBJECT_ID:
        return None
    return n, int(text[:8], 16)


def tenant_object_id(tenant: int) -> str:
    """ShareActor's ``company``: the tenant's id as an ObjectId."""
    return f"{tenant & ((1 << 96) - 1):024x}"


def booqable_id(n: int) -> str:
    if not 0 <= n < (1 << _UUID_BITS):
        raise ValueError(f"id {n} is out of range")
    scrambled = (n * _UUID_MUL) & ((1 << _UUID_BITS) - 1)
    return str(uuid.UUID(int=_UUID_FIXED | scrambled))


def decode_booqable_id(text: str) -> int | None:
    if not _UUID_TEXT.fullmatch(text):
        return None
    value = uuid.UUID(text).int
    if value & _UUID_FIXED_MASK != _UUID_FIXED:
        return None
    scrambled = value & ((1 << _UUID_BITS) - 1)
    return (scrambled * _UUID_INV) & ((1 << _UUID_BITS) - 1)
