"""Who is calling: a tenant's API key, or the admin token.

Keys are ``hl_`` + 32 random bytes (URL-safe base64) and stored as their SHA-256;
the key itself is shown once, when it is issued. A key comes as ``Authorization:
Bearer <key>`` or as Basic with the key as the password (Tripletex's way).

A valid key's tenant is remembered for ``KEY_TTL_S``, so that a producer publishing
one event per request does not cost a PostgreSQL round trip per request (a quarter
of the API's CPU, docs/benchmark.md). Revoking a key forgets them all in the API
process that revoked it at once; another API process refuses it within
``KEY_TTL_S``. An invalid key is looked up every time, never remembered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from hookline.api.http.errors import Unauthorized


@dataclass(frozen=True)
class Tenant:
    id: int
    name: str


def new_key() -> str:
    return "hl_" + secrets.token_urlsafe(32)


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def plain_key(value: str) -> str:
    """``value`` if it could be a key or a token (printable ASCII, no space); else 401.
    aiohttp hands a header's bytes that are not UTF-8 on as lone surrogates, which
    would fail to encode wherever the key is hashed or compared."""
    if value.isascii() and value.isprintable() and " " not in value:
        return value
    raise Unauthorized("the API key holds characters no key has: send it as issued")


def credential(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return plain_key(value.strip())
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(plain_key(value.strip()), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Unauthorized("the Basic credentials are not valid base64") from exc
        _, _, password = decoded.partition(":")
        if password:
            return plain_key(password)
    raise Unauthorized("send your API key as 'Authorization: Bearer <key>'")


KEY_TTL_S = 1.0
MAX_REMEMBERED = 10_000
_remembered: dict[bytes, tuple[float, Tenant]] = {}  # key hash -> (until, tenant)


def forget_keys() -> None:
    """After a revocation: every key is looked up again."""
    _remembered.clear()


async def tenant_of(pool: asyncpg.Pool, request: web.Request) -> Tenant:
    return await tenant_of_key(pool, credential(request))


async def tenant_of_key(pool: asyncpg.Pool, key: str) -> Tenant:
    hashed = key_hash(key)
    now = time.monotonic()
    known = _remembered.get(hashed)
    if known is not None and known[0] > now:
        return known[1]
    row = await pool.fetchrow(
        "SELECT t.id, t.name FROM api_keys k JOIN tenants t ON t.id = k.tenant_id"
        " WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        hashed,
    )
    if row is None:
        _remembered.pop(hashed, None)
        raise Unauthorized("the API key is not valid or was revoked")
    tenant = Tenant(id=row["id"], name=row["name"])
    if len(_remembered) >= MAX_REMEMBERED:
        _remembered.clear()
    _remembered[hashed] = (now + KEY_TTL_S, tenant)
    return tenant


def require_admin(token: str, request: web.Request) -> None:
    if not token:
        raise Unauthorized("admin calls are off: HOOKLINE_ADMIN_TOKEN is not set")
    if not hmac.compare_digest(credential(request).encode(), token.encode()):
        raise Unauthorized("the admin token is not valid")
