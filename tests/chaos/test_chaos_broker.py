"""Fault test: the Kafka broker stops in the middle of a load and comes back.

It runs a broker of its own (``deploy/local/stack.py kafka`` with its own port and
data directory), so the shared broker that other tests use is never touched.
Run by ``make chaos`` (it needs HOOKLINE_CHAOS=1).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import pytest_asyncio
from chaoskit import (
    FaultyReceiver,
    Load,
    admin_of,
    chaos_stack,
    missing_text,
    new_tenant,
    report,
    routable,
    wait_progress,
    wait_received,
)

from support.broker import Broker
from support.stack import Stack

pytestmark = pytest.mark.skipif(
    not os.environ.get("HOOKLINE_CHAOS"), reason="fault tests: make chaos runs them"
)


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    own = Broker()
    own.start()
    try:
        yield own
    finally:
        own.remove()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def on_own_broker(infra: dict[str, str], broker: Broker) -> AsyncIterator[Stack]:
    mine = {**infra, "HOOKLINE_KAFKA_BOOTSTRAP": broker.bootstrap}
    async with chaos_stack(mine) as stack:
        yield stack


async def test_a_broker_stopped_and_restarted_mid_load_loses_nothing(
    on_own_broker: Stack, broker: Broker, http: aiohttp.ClientSession
) -> None:
    stack = on_own_broker
    receiver = FaultyReceiver()
    await receiver.start()
    try:
        load = Load(await new_tenant(admin_of(stack, http)))
        for path in range(3):
            await load.subscribe(receiver, path)
        await routable(stack, http, 3)
        publisher = asyncio.create_task(load.publish_over(1500, 6))
        await wait_progress([receiver], 300, 30)
        stopped = time.monotonic()
        await asyncio.to_thread(broker.stop)
        await asyncio.sleep(2)
        await asyncio.to_thread(broker.start)
        print(f"\nthe broker was away for {time.monotonic() - stopped:.1f}s")
        # Published once the broker is back: the API and every consumer reconnected.
        await publisher
        await load.publish_over(300, 1)
        missing = await wait_received(load, [receiver], 120)
        assert not missing, missing_text(missing, stack)
        for name, svc in stack.services.items():
            assert svc.proc is not None and svc.proc.poll() is None, f"{name} died"
        report("Kafka broker stopped and restarted", load, [receiver])
    finally:
        await receiver.stop()
