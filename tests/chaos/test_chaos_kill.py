"""Fault tests: SIGKILL each service in the middle of a load, and receivers that
misbehave for a while. Every event must reach its receiver at least once; the
duplicates are printed. Run by ``make chaos`` (they need HOOKLINE_CHAOS=1)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from chaoskit import (
    FAIL,
    HANG,
    RESET,
    FaultyReceiver,
    Load,
    admin_of,
    chaos_stack,
    faulty_for,
    missing_text,
    new_tenant,
    report,
    restart,
    routable,
    wait_progress,
    wait_received,
)

from support.stack import Stack

pytestmark = pytest.mark.skipif(
    not os.environ.get("HOOKLINE_CHAOS"), reason="fault tests: make chaos runs them"
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chaos(infra: dict[str, str]) -> AsyncIterator[Stack]:
    async with chaos_stack(infra) as stack:
        yield stack


@pytest_asyncio.fixture(loop_scope="session")
async def receiver() -> AsyncIterator[FaultyReceiver]:
    rcv = FaultyReceiver()
    await rcv.start()
    yield rcv
    await rcv.stop()


class Counter:
    """Subscriptions made on the module's stack so far, to know when the router has them."""

    made = 0


async def loaded(
    chaos: Stack, http: aiohttp.ClientSession, receivers: list[FaultyReceiver], per: int = 1
) -> Load:
    load = Load(await new_tenant(admin_of(chaos, http)))
    for n, rcv in enumerate(receivers):
        for k in range(per):
            await load.subscribe(rcv, n * per + k)
    Counter.made += len(receivers) * per
    await routable(chaos, http, Counter.made)
    return load


async def kill_mid_load(
    chaos: Stack, http: aiohttp.ClientSession, receiver: FaultyReceiver, service: str
) -> None:
    load = await loaded(chaos, http, [receiver], per=3)
    publisher = asyncio.create_task(load.publish_over(1500, 6))
    await wait_progress([receiver], 300, 30)
    await restart(chaos, service)
    await publisher
    missing = await wait_received(load, [receiver], 90)
    assert not missing, missing_text(missing, chaos)
    report(f"SIGKILL {service}", load, [receiver])


async def test_a_deliverer_killed_mid_load_loses_nothing(
    chaos: Stack, http: aiohttp.ClientSession, receiver: FaultyReceiver
) -> None:
    await kill_mid_load(chaos, http, receiver, "deliverer")


async def test_the_router_killed_mid_load_loses_nothing(
    chaos: Stack, http: aiohttp.ClientSession, receiver: FaultyReceiver
) -> None:
    await kill_mid_load(chaos, http, receiver, "router")


async def test_the_retry_scheduler_killed_mid_load_loses_nothing(
    chaos: Stack, http: aiohttp.ClientSession, receiver: FaultyReceiver
) -> None:
    # Every delivery of the first seconds fails, so the load sits in the delay topics.
    receiver.behaviour = faulty_for(4.0, FAIL)
    load = await loaded(chaos, http, [receiver], per=2)
    publisher = asyncio.create_task(load.publish_over(600, 3))
    await asyncio.sleep(2.5)
    assert receiver.faults[FAIL] > 0, "nothing failed: the retry scheduler had nothing to do"
    await restart(chaos, "retry_scheduler")
    await publisher
    missing = await wait_received(load, [receiver], 90)
    assert not missing, missing_text(missing, chaos)
    report("SIGKILL retry_scheduler", load, [receiver])


async def test_receivers_that_hang_reset_or_fail_for_a_while_get_everything(
    chaos: Stack, http: aiohttp.ClientSession
) -> None:
    receivers = [
        FaultyReceiver(faulty_for(4.0, HANG)),
        FaultyReceiver(faulty_for(4.0, RESET)),
        FaultyReceiver(faulty_for(4.0, FAIL)),
    ]
    for rcv in receivers:
        await rcv.start()
    try:
        load = await loaded(chaos, http, receivers)
        await load.publish_over(300, 3)
        missing = await wait_received(load, receivers, 90)
        assert not missing, missing_text(missing, chaos)
        for rcv, fault in zip(receivers, (HANG, RESET, FAIL), strict=True):
            assert rcv.faults[fault] > 0, f"the {fault} receiver was never tried while faulty"
        report("receivers hang, reset, answer 500", load, receivers)
    finally:
        for rcv in receivers:
            await rcv.stop()
