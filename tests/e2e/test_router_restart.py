"""A router killed mid-stream loses no event: every one arrives at least once."""

from __future__ import annotations

import asyncio

import orjson
from router_support import eventually, publish, router_counts, subscribe

from support.client import Api
from support.receiver import Receiver
from support.stack import Stack

CHUNK = 50
MOST = 3000  # the burst is bounded whatever happens
PATHS = ("/a", "/b", "/c")  # three subscriptions: more to route per event, more in flight


async def test_a_router_restart_mid_stream_loses_no_event(
    stack: Stack, tenant: Api, receiver: Receiver
) -> None:
    for path in PATHS:
        await subscribe(tenant, receiver, path=path)
    published: list[int] = []
    restarted = asyncio.Event()

    async def burst() -> None:
        after = 5  # chunks published after the restart, to the new router
        while after and len(published) < MOST:
            start = len(published)
            ids = list(range(start, start + CHUNK))
            await publish(tenant, [{"event": "product.update", "id": n} for n in ids])
            published.extend(ids)
            after -= restarted.is_set()
            await asyncio.sleep(0.1)

    publishing = asyncio.create_task(burst())

    async def routing() -> bool:
        return (await router_counts(stack))["events"] >= 2 * CHUNK

    await eventually(routing)  # the router is at work, and the burst goes on
    # SIGKILL and start again, off the loop so that the receiver keeps answering.
    await asyncio.to_thread(stack.services["router"].restart)
    restarted.set()
    await publishing
    assert not publishing.exception()

    def arrived() -> set[tuple[str, int]]:
        return {(r.path, orjson.loads(r.body)["id"]) for r in receiver.received}

    expected = {(path, n) for path in PATHS for n in published}

    async def all_arrived() -> bool:
        return arrived() >= expected

    await eventually(all_arrived, timeout_s=60)
    assert arrived() == expected
    assert (await router_counts(stack))["events"] > 0  # the new router routed a part
