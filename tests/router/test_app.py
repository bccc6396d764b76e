"""A batch whose worker is stopping is routed to its end before Faust acknowledges it."""

from __future__ import annotations

import asyncio

import pytest

from hookline.router.app import finish_before_ack


async def test_a_cancelled_batch_is_finished_before_the_cancellation_goes_on() -> None:
    finished: list[str] = []

    async def route_batch() -> None:
        await asyncio.sleep(0.05)
        finished.append("routed")

    body = asyncio.create_task(finish_before_ack(route_batch()))
    await asyncio.sleep(0.01)
    body.cancel()  # what stopping the agent does, in the middle of the batch
    with pytest.raises(asyncio.CancelledError):
        await body
    assert finished == ["routed"]  # only now may take_events' finally acknowledge it


async def test_a_batch_that_is_not_cancelled_is_routed_once() -> None:
    finished: list[str] = []

    async def route_batch() -> None:
        finished.append("routed")

    await finish_before_ack(route_batch())
    assert finished == ["routed"]
