"""Tests for ``hand_over``, the router consumer's inline hand-over of a fetched record:
it must behave as Faust's ``wait_first(callback(message), suspend_flow.wait())``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hookline.core.config import Settings
from hookline.router.app import create_app
from hookline.router.consumer import Consumer, hand_over


class Race:
    """``Service.wait_first`` as the consumer uses it: the first to finish wins, the
    other is cancelled; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, *aws: Any) -> None:
        self.calls += 1
        tasks = [asyncio.ensure_future(a) for a in aws]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in done:
            task.result()


async def test_a_hand_over_that_does_not_wait_runs_inline_without_a_race() -> None:
    seen: list[int] = []

    async def deliver() -> None:
        seen.append(1)

    race = Race()
    await hand_over(deliver(), race, asyncio.Event())
    assert seen == [1]
    assert race.calls == 0


async def test_a_hand_over_that_waits_is_finished_with_its_result() -> None:
    room = asyncio.Event()
    seen: list[str] = []

    async def deliver() -> None:
        seen.append("waiting")
        await room.wait()  # a full stream buffer
        await asyncio.sleep(0)  # and a bare yield
        seen.append("delivered")

    race = Race()
    asyncio.get_running_loop().call_later(0.01, room.set)
    await hand_over(deliver(), race, asyncio.Event())
    assert seen == ["waiting", "delivered"]
    assert race.calls == 1


async def test_a_suspended_flow_abandons_a_waiting_hand_over_which_sees_the_cancel() -> None:
    cleaned: list[str] = []

    async def deliver() -> None:
        try:
            await asyncio.Event().wait()  # never room
        finally:
            cleaned.append("cancelled")

    suspended = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, suspended.set)
    await asyncio.wait_for(hand_over(deliver(), Race(), suspended), 2)
    await asyncio.sleep(0)
    assert cleaned == ["cancelled"]


async def test_a_failing_hand_over_raises_inline_and_after_a_wait() -> None:
    async def fails_at_once() -> None:
        raise ValueError("at once")

    async def fails_later() -> None:
        await asyncio.sleep(0.001)
        raise ValueError("later")

    with pytest.raises(ValueError, match="at once"):
        await hand_over(fails_at_once(), Race(), asyncio.Event())
    with pytest.raises(ValueError, match="later"):
        await hand_over(fails_later(), Race(), asyncio.Event())


def test_the_router_app_consumes_with_it() -> None:
    app = create_app(Settings.from_env({"HOOKLINE_TOPIC_PREFIX": "t-consumer"}))
    assert isinstance(app.consumer, Consumer)
