"""SIGKILL the deliverer in the middle of a load: every event still arrives.

The receiver answers the first 100 requests at once, then holds every request it
gets, so that when the deliverer is killed it has deliveries in flight at the
receiver, deliveries waiting for a turn, and offsets it has not committed. It is
restarted (the session's stack is shared), and every one of the 300 events must
reach the receiver at least once; copies are allowed (at least once) and reported.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest_asyncio
from aiohttp import web

from support.client import Api
from support.scripted import ScriptedReceiver, header, publish, subscribe
from support.stack import Stack

N = 300
ANSWERED_BEFORE_THE_KILL = 100


@pytest_asyncio.fixture(loop_scope="session")
async def held() -> AsyncIterator[ScriptedReceiver]:
    rcv = ScriptedReceiver()
    await rcv.start()
    yield rcv
    await rcv.stop()


async def test_a_deliverer_killed_mid_load_loses_nothing(
    stack: Stack, tenant: Api, held: ScriptedReceiver
) -> None:
    release = asyncio.Event()

    async def script(n: int, _: web.Request) -> web.Response:
        if n >= ANSWERED_BEFORE_THE_KILL:
            await release.wait()
        return web.Response(status=200)

    held.script = script
    await subscribe(tenant, f"{held.url}/kill")
    await publish(tenant, list(range(N)))
    await held.wait_for(ANSWERED_BEFORE_THE_KILL + 20, timeout_s=20)

    deliverer = stack.services["deliverer"]
    await asyncio.to_thread(deliverer.kill)  # SIGKILL
    killed_at = len(held.received)
    release.set()
    await asyncio.to_thread(deliverer.start)
    await asyncio.to_thread(deliverer.wait_healthy)

    async def all_arrived() -> None:
        async with held._arrived:
            await held._arrived.wait_for(lambda: set(held.ids()) >= set(range(N)))

    # A new member takes the partitions once the killed one's session times out (10 s).
    await asyncio.wait_for(all_arrived(), 60)
    copies = Counter(header(r, "webhook-id") for r in held.received)
    duplicates = sum(n - 1 for n in copies.values())
    print(
        f"\n{N} events; {killed_at} requests had arrived when the deliverer was killed;"
        f" {len(held.received)} requests in all, {duplicates} duplicates"
    )
    assert set(held.ids()) == set(range(N))
    assert len(copies) == N
