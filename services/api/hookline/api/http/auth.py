"""Who is calling: a tenant's API key, or the admin token.

Keys are ``hl_`` + 32 random bytes (URL-safe base64) and stored as their SHA-256;
the key itself is shown once, when it is issued. A key comes as ``Authorization:
Bearer <key>`` or as Basic with the key as the password (Tripletex's way).

A valid key's tenant is remembered for ``KEY_TTL_S`` from the moment the look-up
that found it began, so that a producer publishing one event per request does not
cost a PostgreSQL round trip per request (a quarter of the API's CPU,
docs/benchmark.md). Revoking a key forgets them all in the API process that revoked
it at once; another API process refuses it within ``KEY_TTL_S``. An invalid key is
looked up every time, never remembered.

The look-ups cost one per key and ``REFRESH_AFTER_S``, however many requests come
(``KeyCache``): requests that miss together share one look-up, and a key used past
``REFRESH_AFTER_S`` is looked up again in the background while its tenant is still
answered, so that the busy keys never wait on PostgreSQL nor run out together.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import asyncpg
from aiohttp import web

from hookline.api.http.errors import Unauthorized

log = logging.getLogger("hookline.api.auth")


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
REFRESH_AFTER_S = KEY_TTL_S / 2
MAX_REMEMBERED = 10_000
_LOOKUP = (
    "SELECT t.id, t.name FROM api_keys k JOIN tenants t ON t.id = k.tenant_id"
    " WHERE k.key_hash = $1 AND k.revoked_at IS NULL"
)
Freshness = Literal["fresh", "refresh", "expired"]


def freshness(checked_at: float, now: float) -> Freshness:
    """Pure: what a key's remembered tenant is good for, ``checked_at`` being when the
    look-up that found it began: answer it (``fresh``), answer it and look the key up
    again in the background (``refresh``), or no more (``expired``: look it up first)."""
    age = now - checked_at
    if age < 0 or age >= KEY_TTL_S:  # a clock that went back: never trusted longer
        return "expired"
    return "refresh" if age >= REFRESH_AFTER_S else "fresh"


@dataclass(frozen=True, slots=True)
class _Known:
    checked_at: float
    tenant: Tenant


class KeyCache:
    """Valid keys' tenants by key hash, at most one look-up under way per key."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._known: dict[bytes, _Known] = {}
        self._lookups: dict[bytes, asyncio.Task[Tenant | None]] = {}
        self._generation = 0  # a revocation's: look-ups begun before it remember nothing

    def forget(self) -> None:
        """After a revocation: every key is looked up again, by a look-up begun now."""
        self._known.clear()
        self._lookups.clear()
        self._generation += 1

    async def tenant_of(self, pool: asyncpg.Pool, key: str) -> Tenant:
        hashed = key_hash(key)
        known = self._known.get(hashed)
        if known is not None:
            state = freshness(known.checked_at, self._clock())
            if state != "expired":
                if state == "refresh":
                    self._lookup(pool, hashed)  # not awaited: the answer is still good
                return known.tenant
        # Shielded: a request that goes away does not cancel the others' look-up.
        tenant = await asyncio.shield(self._lookup(pool, hashed))
        if tenant is None:
            raise Unauthorized("the API key is not valid or was revoked")
        return tenant

    def _lookup(self, pool: asyncpg.Pool, hashed: bytes) -> asyncio.Task[Tenant | None]:
        task = self._lookups.get(hashed)
        if task is not None and task.get_loop() is asyncio.get_running_loop():
            return task
        task = asyncio.create_task(self._look_up(pool, hashed))
        self._lookups[hashed] = task

        def done(_: asyncio.Task[Tenant | None]) -> None:
            if self._lookups.get(hashed) is task:
                del self._lookups[hashed]
            if not task.cancelled() and task.exception() is not None:
                # Awaited, it is the caller's 503; in the background, the key's tenant
                # runs out at KEY_TTL_S and the next request's look-up answers that.
                log.debug("looking up an API key failed: %r", task.exception())

        task.add_done_callback(done)
        return task

    async def _look_up(self, pool: asyncpg.Pool, hashed: bytes) -> Tenant | None:
        generation, began = self._generation, self._clock()
        row = await pool.fetchrow(_LOOKUP, hashed)
        if row is None:
            self._known.pop(hashed, None)
            return None
        tenant = Tenant(id=row["id"], name=row["name"])
        if generation == self._generation:
            if len(self._known) >= MAX_REMEMBERED:
                self._known.clear()
            self._known[hashed] = _Known(began, tenant)
        return tenant


_keys = KeyCache()


def forget_keys() -> None:
    """After a revocation: every key is looked up again."""
    _keys.forget()


# The key and tenant that the rate limit found for this request, for its view.
CHECKED: web.RequestKey[tuple[str, Tenant]] = web.RequestKey("checked_key")


async def tenant_of(pool: asyncpg.Pool, request: web.Request) -> Tenant:
    key = credential(request)
    if CHECKED in request and request[CHECKED][0] == key:
        return request[CHECKED][1]
    return await tenant_of_key(pool, key)


async def tenant_of_key(pool: asyncpg.Pool, key: str) -> Tenant:
    return await _keys.tenant_of(pool, key)


def require_admin(token: str, request: web.Request) -> None:
    if not token:
        raise Unauthorized("admin calls are off: HOOKLINE_ADMIN_TOKEN is not set")
    if not hmac.compare_digest(credential(request).encode(), token.encode()):
        raise Unauthorized("the admin token is not valid")
