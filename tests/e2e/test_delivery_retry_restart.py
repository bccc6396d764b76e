"""SIGKILL the retry scheduler while retries are waiting and going: none lost, none copied.

Every event's first attempt fails, so every event goes through the first delay topic.
The events are published in waves, and the retry scheduler is killed once the first
wave's retries have arrived, with later waves still waiting in the delay topic. After
a restart every event must arrive exactly twice: its failed first attempt and one
retry. A lost retry would leave an event with one request; a copied one would give it
three (the scheduler re-sends and commits in one transaction).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import orjson
import pytest_asyncio
from aiohttp import web

from support.client import Api
from support.scripted import ScriptedReceiver, publish, subscribe
from support.stack import Stack

WAVES = 5
PER_WAVE = 20


@pytest_asyncio.fixture(loop_scope="session")
async def once_failing() -> AsyncIterator[ScriptedReceiver]:
    """Fails the first request of each event, accepts the others."""
    rcv = ScriptedReceiver()
    tried: set[int] = set()

    async def script(_: int, request: web.Request) -> web.Response:
        object_id = orjson.loads(await request.read())["id"]
        if object_id in tried:
            return web.Response(status=200)
        tried.add(object_id)
        return web.Response(status=500)

    rcv.script = script
    await rcv.start()
    yield rcv
    await rcv.stop()


async def test_a_killed_retry_scheduler_neither_loses_nor_copies(
    stack: Stack, tenant: Api, once_failing: ScriptedReceiver
) -> None:
    await subscribe(tenant, f"{once_failing.url}/retry")
    for wave in range(WAVES):
        await publish(tenant, list(range(wave * PER_WAVE, (wave + 1) * PER_WAVE)))
        await asyncio.sleep(0.3)

    total = WAVES * PER_WAVE
    await once_failing.wait_for(total + PER_WAVE, timeout_s=20)  # the first wave's retries
    scheduler = stack.services["retry_scheduler"]
    await asyncio.to_thread(scheduler.kill)  # SIGKILL
    killed_at = len(once_failing.received)
    await asyncio.to_thread(scheduler.start)
    await asyncio.to_thread(scheduler.wait_healthy)

    await once_failing.wait_for(2 * total, timeout_s=60)
    await asyncio.sleep(1.0)  # a copy would come right behind the others
    seen = Counter(once_failing.ids())
    print(
        f"\n{total} events; {killed_at} requests before the kill, {len(once_failing.received)}"
        f" in all; requests per event: {dict(Counter(seen.values()))}"
    )
    assert set(seen) == set(range(total))
    assert all(n == 2 for n in seen.values()), seen
