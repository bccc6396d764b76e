"""The API's remembered key tenants (``KeyCache``): one look-up per key however many
requests come at once, refreshed in the background, and never an answer from a
look-up begun more than ``KEY_TTL_S`` before it (docs/security.md). A fake pool and
clock: the look-up against PostgreSQL is the e2e tests' (tests/e2e/test_api_subscriptions.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookline.api.http.auth import (
    KEY_TTL_S,
    REFRESH_AFTER_S,
    KeyCache,
    Tenant,
    freshness,
    key_hash,
)
from hookline.api.http.errors import Unauthorized

KEY = "hl_" + "k" * 43
TENANT = Tenant(id=7, name="seven")


@dataclass
class FakePool:
    """``fetchrow`` of the key look-up: the valid keys by hash, each call counted, and
    a gate a test may close to hold look-ups under way."""

    valid: dict[bytes, Tenant] = field(default_factory=lambda: {key_hash(KEY): TENANT})
    calls: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    failure: Exception | None = None

    def __post_init__(self) -> None:
        self.gate.set()

    async def fetchrow(self, _query: str, hashed: bytes) -> dict[str, Any] | None:
        self.calls += 1
        tenant = self.valid.get(hashed)  # read at once, answered when the gate opens
        await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        return None if tenant is None else {"id": tenant.id, "name": tenant.name}


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


def cache_and_pool() -> tuple[KeyCache, FakePool, Clock, asyncpg.Pool]:
    clock, fake = Clock(), FakePool()
    return KeyCache(clock), fake, clock, cast(asyncpg.Pool, fake)


async def settle() -> None:
    """Let the look-ups started in the background finish."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_freshness_by_age() -> None:
    assert freshness(10.0, 10.0) == "fresh"
    assert freshness(10.0, 10.0 + REFRESH_AFTER_S - 1e-6) == "fresh"
    assert freshness(10.0, 10.0 + REFRESH_AFTER_S) == "refresh"
    assert freshness(10.0, 10.0 + KEY_TTL_S - 1e-6) == "refresh"
    assert freshness(10.0, 10.0 + KEY_TTL_S) == "expired"
    assert freshness(10.0, 9.0) == "expired"  # the clock went back: not trusted


async def test_requests_that_miss_together_share_one_look_up() -> None:
    cache, fake, _, pool = cache_and_pool()
    fake.gate.clear()
    waiting = [asyncio.create_task(cache.tenant_of(pool, KEY)) for _ in range(50)]
    await settle()
    fake.gate.set()
    assert await asyncio.gather(*waiting) == [TENANT] * 50
    assert fake.calls == 1


async def test_a_key_used_past_the_refresh_age_is_answered_at_once_and_looked_up_once() -> None:
    cache, fake, clock, pool = cache_and_pool()
    assert await cache.tenant_of(pool, KEY) == TENANT
    clock.now += REFRESH_AFTER_S + 0.1
    fake.gate.clear()  # the refresh is held: the answers do not wait for it
    answers = [await cache.tenant_of(pool, KEY) for _ in range(20)]
    assert answers == [TENANT] * 20
    await settle()
    assert fake.calls == 2  # one refresh, under way
    fake.gate.set()
    await settle()
    clock.now += KEY_TTL_S - 0.05  # past the first look-up's second, within the refresh's
    assert await cache.tenant_of(pool, KEY) == TENANT
    assert fake.calls == 2


async def test_a_refresh_that_finds_the_key_revoked_refuses_it_from_then_on() -> None:
    cache, fake, clock, pool = cache_and_pool()
    await cache.tenant_of(pool, KEY)
    fake.valid.clear()  # revoked by another API process
    clock.now += REFRESH_AFTER_S + 0.1
    assert await cache.tenant_of(pool, KEY) == TENANT  # within its second: still answered
    await settle()
    with pytest.raises(Unauthorized, match="revoked"):
        await cache.tenant_of(pool, KEY)


async def test_a_revocation_while_a_look_up_is_under_way_is_not_undone_by_it() -> None:
    cache, fake, _, pool = cache_and_pool()
    fake.gate.clear()
    begun = asyncio.create_task(cache.tenant_of(pool, KEY))
    await settle()
    fake.valid.clear()
    cache.forget()  # this process revoked it; the look-up under way read it before
    fake.gate.set()
    assert await begun == TENANT  # the request that came before the revocation
    with pytest.raises(Unauthorized):
        await cache.tenant_of(pool, KEY)
    assert fake.calls == 2


async def test_a_failed_refresh_keeps_the_tenant_its_second_then_the_error_is_the_callers() -> None:
    cache, fake, clock, pool = cache_and_pool()
    await cache.tenant_of(pool, KEY)
    fake.failure = ConnectionRefusedError(111, "refused")
    clock.now += REFRESH_AFTER_S + 0.1
    assert await cache.tenant_of(pool, KEY) == TENANT
    await settle()
    clock.now += REFRESH_AFTER_S
    with pytest.raises(ConnectionRefusedError):
        await cache.tenant_of(pool, KEY)


async def test_a_caller_that_goes_away_does_not_cancel_the_others_look_up() -> None:
    cache, fake, _, pool = cache_and_pool()
    fake.gate.clear()
    leaving = asyncio.create_task(cache.tenant_of(pool, KEY))
    staying = asyncio.create_task(cache.tenant_of(pool, KEY))
    await settle()
    leaving.cancel()
    await settle()
    fake.gate.set()
    assert await staying == TENANT
    assert fake.calls == 1


async def test_an_invalid_key_is_never_remembered() -> None:
    cache, fake, _, pool = cache_and_pool()
    for _ in range(3):
        with pytest.raises(Unauthorized):
            await cache.tenant_of(pool, "hl_not-a-key")
    assert fake.calls == 3


@given(
    st.lists(st.floats(min_value=0, max_value=0.7, allow_nan=False), min_size=1, max_size=60),
    st.integers(min_value=0, max_value=59),
)
def test_no_answer_comes_from_a_look_up_begun_more_than_the_ttl_before_it(
    gaps: list[float], revoked_at: int
) -> None:
    """Requests one after another at any gaps, the key revoked elsewhere at one of them:
    from ``KEY_TTL_S`` after the revocation on, every request is refused."""

    async def run() -> None:
        cache, fake, clock, pool = cache_and_pool()
        revoked: float | None = None
        for n, gap in enumerate(gaps):
            clock.now += gap
            if n == revoked_at:
                fake.valid.clear()
                revoked = clock.now
            try:
                await cache.tenant_of(pool, KEY)
                answered = True
            except Unauthorized:
                answered = False
            await settle()
            if revoked is not None and clock.now >= revoked + KEY_TTL_S:
                assert not answered, (n, clock.now, revoked)
            if revoked is None:
                assert answered

    asyncio.run(run())
