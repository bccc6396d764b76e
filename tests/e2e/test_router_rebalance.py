"""Two router workers: one joins mid-stream and leaves again; no event is lost.

The second worker takes partitions of ``hookline.events`` from the first (a
rebalance), routes some events, and is stopped; its partitions go back to the
first worker once its short session timeout runs out. Every event published
throughout reaches every subscription at least once.
"""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import orjson
from router_support import eventually, publish, router_counts, subscribe

from support.client import Api
from support.receiver import Receiver
from support.stack import Service, Stack, free_port

CHUNK = 40
MOST = 4000  # until the second worker has left; 5 * CHUNK more after that
PATHS = ("/a", "/b")
SESSION_TIMEOUT_S = "6"  # how long the group waits for a stopped static member


async def routed_by(port: int) -> int:
    url = f"http://127.0.0.1:{port}/healthz"
    async with aiohttp.ClientSession() as http, http.get(url) as rsp:
        return int((await rsp.json())["routed"]["events"])


async def routes_some(port: int, published: list[int], cap: list[int]) -> bool:
    """The worker on ``port`` has routed an event. Until then events keep coming: the
    first worker may have routed the whole burst before the second joined."""
    if await routed_by(port) > 0:
        return True
    cap[0] = max(cap[0], len(published) + CHUNK)
    return False


async def test_a_second_router_joins_and_leaves_without_losing_an_event(
    stack: Stack, tenant: Api, receiver: Receiver
) -> None:
    for path in PATHS:
        await subscribe(tenant, receiver, path=path)
    first = stack.services["router"]
    env = {
        **first.env,
        "HOOKLINE_HTTP_PORT": str(free_port()),
        "BROKER_SESSION_TIMEOUT": SESSION_TIMEOUT_S,
    }
    second = Service("router", env, first.log.with_name("router-2.log"))
    published: list[int] = []
    stop = asyncio.Event()
    # On a loaded machine the second worker can take long enough to join that the burst
    # reaches MOST first; it then waits for the kill, after which 5 chunks more are sent.
    cap = [MOST]

    async def burst() -> None:
        while not stop.is_set():
            if len(published) >= cap[0]:
                await asyncio.sleep(0.1)
                continue
            start = len(published)
            ids = list(range(start, start + CHUNK))
            await publish(tenant, [{"event": "product.update", "id": n} for n in ids])
            published.extend(ids)
            await asyncio.sleep(0.1)

    publishing = asyncio.create_task(burst())
    try:

        async def first_routes() -> bool:
            return (await router_counts(stack))["events"] >= 2 * CHUNK

        await eventually(first_routes)
        await asyncio.to_thread(second.start)
        await asyncio.to_thread(second.wait_healthy)

        # the rebalance gave it partitions
        await eventually(lambda: routes_some(second.port, published, cap), timeout_s=40)
        await asyncio.to_thread(second.kill, signal.SIGTERM)
        after = len(published)
        cap[0] = after + 5 * CHUNK

        async def more_published() -> bool:
            return len(published) >= after + 5 * CHUNK

        await eventually(more_published, timeout_s=30)
    finally:
        stop.set()
        await publishing
        second.kill()

    def arrived() -> set[tuple[str, int]]:
        return {(r.path, orjson.loads(r.body)["id"]) for r in receiver.received}

    expected = {(path, n) for path in PATHS for n in published}

    async def all_arrived() -> bool:
        return arrived() >= expected

    await eventually(all_arrived, timeout_s=60)
    assert arrived() == expected
