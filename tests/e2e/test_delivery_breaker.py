"""The circuit breaker under load: a dead endpoint does not slow a healthy one down.

One run measures a healthy endpoint alone; the next publishes 300 events for a dead
endpoint (it accepts connections and never answers, so a request lasts until the 2 s
timeout), then at once 200 for the healthy one, and measures it again. Both runs
happen in this test, on this machine. Without the endpoint limit and the breaker, the
dead endpoint's requests would take every one of the deliverer's 256 request slots
until they time out.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from support.client import Api
from support.scripted import (
    HangingEndpoint,
    ScriptedReceiver,
    attempts,
    eventually,
    publish,
    subscribe,
)

N = 200
N_DEAD = 300  # more than HOOKLINE_MAX_IN_FLIGHT (256): enough to take every request slot
ENDPOINT_CONCURRENCY = 64  # HOOKLINE_ENDPOINT_CONCURRENCY's default


@pytest_asyncio.fixture(loop_scope="session")
async def healthy() -> AsyncIterator[ScriptedReceiver]:
    rcv = ScriptedReceiver()
    await rcv.start()
    yield rcv
    await rcv.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def dead() -> AsyncIterator[HangingEndpoint]:
    endpoint = HangingEndpoint()
    await endpoint.start()
    yield endpoint
    await endpoint.stop()


async def _run(tenant: Api, healthy: ScriptedReceiver, ids: list[int]) -> tuple[float, float]:
    """Publish ``ids`` at once; the p50 latency and the time until the last arrived."""
    loop = asyncio.get_running_loop()
    wanted = set(ids)
    before = len(healthy.received)
    started = loop.time()
    await publish(tenant, ids)
    await healthy.wait_for(before + len(ids), timeout_s=30)
    arrived = [r.at - started for r in healthy.received[before:]]
    assert set(healthy.ids()[before:]) == wanted
    return statistics.median(arrived), max(arrived)


async def test_a_dead_endpoint_does_not_slow_a_healthy_one(
    tenant: Api, healthy: ScriptedReceiver, dead: HangingEndpoint
) -> None:
    await subscribe(tenant, f"{healthy.url}/healthy")
    await _run(tenant, healthy, list(range(-20, 0)))  # warm up connections
    alone_p50, alone_all = await _run(tenant, healthy, list(range(N)))

    gone = await subscribe(tenant, f"{dead.url}/dead", event="product.update")
    mixed_started = asyncio.get_running_loop().time()
    await publish(tenant, list(range(N_DEAD)), event="product.update")
    mixed_p50, mixed_all = await _run(tenant, healthy, list(range(N, 2 * N)))

    # The dead endpoint's requests end at the timeout; each one is in the attempt log.
    async def settled() -> Any:
        log = await attempts(tenant, gone["id"], "count=1000")
        n = log["fullResultSize"]
        return log if n >= 5 and n == dead.connections else None

    # Wait past the first timeouts (2 s) and their first retry (1 s later): no new request
    # may reach the dead endpoint while its circuit is open.
    await asyncio.sleep(max(0.0, mixed_started + 4.5 - asyncio.get_running_loop().time()))
    log = await eventually(settled, 10, "every request to the dead endpoint is logged")
    print(
        f"\nhealthy alone: p50 {alone_p50 * 1000:.0f} ms, all {alone_all * 1000:.0f} ms;"
        f" beside a dead endpoint: p50 {mixed_p50 * 1000:.0f} ms, all {mixed_all * 1000:.0f} ms;"
        f" requests to the dead endpoint: {dead.connections} for {N_DEAD} deliveries"
    )
    assert mixed_p50 < 3 * alone_p50 + 0.2
    assert mixed_all < 3 * alone_all + 0.5
    # The dead endpoint got a concurrency limit's worth of requests, not one per delivery,
    # and the deliveries put off did not use up a retry: every attempt is a first one.
    assert dead.connections <= ENDPOINT_CONCURRENCY + 5
    assert {a["attempt"] for a in log["values"]} == {1}
    assert {a["reason"] for a in log["values"]} == {"timeout after 2s"}

    status, _ = await tenant.call("DELETE", f"/v2/event/subscription/{gone['id']}")
    assert status == 204
