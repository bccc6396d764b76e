"""hookline.router.consumer: ``hand_over``, the inline hand-over of a fetched record,
behaves as Faust's ``wait_first(callback(message), suspend_flow.wait())``; a commit
whose partitions all moved away commits nothing instead of crashing the worker;
``take_ready`` hands on what is buffered without a timer; ``handed_over`` says up to
where each partition was handed on."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

import faust
import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from hookline.core.config import Settings
from hookline.router.app import create_app
from hookline.router.consumer import Consumer, ConsumerThread, hand_over, take_ready


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


MINE, GONE = TP("hl.events", 0), TP("hl.events", 1)


def _thread(assigned: set[TP]) -> Any:
    thread = object.__new__(ConsumerThread)  # no consumer: none is reached
    thread.assignment = lambda: assigned  # type: ignore[method-assign]
    return thread


@pytest.fixture
def faust_commits(monkeypatch: pytest.MonkeyPatch) -> list[Mapping[TP, int]]:
    calls: list[Mapping[TP, int]] = []

    async def commit(self: Any, offsets: Mapping[TP, int]) -> bool:
        calls.append(offsets)
        return True

    monkeypatch.setattr(faust_aiokafka.AIOKafkaConsumerThread, "_commit", commit)
    return calls


async def test_a_commit_of_only_revoked_partitions_commits_nothing(
    faust_commits: list[Mapping[TP, int]],
) -> None:
    assert await _thread(set())._commit({GONE: 7}) is False
    assert faust_commits == []  # aiokafka would have raised ValueError({}): a crash


async def test_a_commit_with_a_partition_still_held_goes_to_faust(
    faust_commits: list[Mapping[TP, int]],
) -> None:
    assert await _thread({MINE})._commit({MINE: 3, GONE: 7}) is True
    assert faust_commits == [{MINE: 3, GONE: 7}]  # Faust drops GONE itself


def test_the_consumer_runs_on_this_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ConsumerThread, "__init__", lambda self, *a, **k: None)
    consumer = object.__new__(Consumer)
    consumer.loop, consumer.beacon = None, None  # type: ignore[assignment]
    assert isinstance(consumer._new_consumer_thread(), ConsumerThread)


class Taker:
    """An agent on an in-memory channel taking lists with ``take_ready``: each list is
    noted, and the first is held until ``release`` is set."""

    def __init__(self, most: int) -> None:
        # No broker is reached: the test context feeds the channel in memory.
        self.app = faust.App("t-take-ready", broker="kafka://127.0.0.1:1", store="memory://")
        self.lists: list[list[int]] = []
        self.release = asyncio.Event()
        self.taken = asyncio.Condition()

        async def take(stream: faust.StreamT[int]) -> None:
            async for events in take_ready(cast(faust.Stream[int], stream), most):
                async with self.taken:
                    self.lists.append([cast(int, e.value) for e in events])
                    self.taken.notify_all()
                await self.release.wait()

        self.agent = self.app.agent(self.app.channel())(take)

    async def wait_for(self, values: int) -> None:
        async with self.taken:
            await asyncio.wait_for(
                self.taken.wait_for(lambda: sum(map(len, self.lists)) >= values), 5
            )


async def test_a_lone_event_is_handed_on_alone_without_waiting_for_more() -> None:
    taker = Taker(most=500)
    async with taker.agent.test_context() as agent:
        await agent.put(1, wait=False)
        await taker.wait_for(1)  # Faust's take_events(500, within=10 s) would hold it
        assert taker.lists == [[1]]


async def test_events_that_arrive_while_a_list_is_handled_come_next_together() -> None:
    taker = Taker(most=3)
    async with taker.agent.test_context() as agent:
        await agent.put(1, wait=False)
        await taker.wait_for(1)
        for value in range(2, 9):  # while the first list is still being handled
            await agent.put(value, wait=False)
        taker.release.set()
        await taker.wait_for(8)
        assert taker.lists == [[1], [2, 3, 4], [5, 6, 7], [8]]  # never more than 3


def test_handed_over_is_per_partition_of_the_topic_asked() -> None:
    consumer = object.__new__(Consumer)
    consumer._handed = {MINE: 8, TP("hl.routed", 0): 3}
    assert consumer.handed_over("hl.events") == {MINE: 8}


async def test_the_consumer_thread_calls_inline_what_faust_sends_to_its_thread() -> None:
    thread = object.__new__(ConsumerThread)  # no consumer, no thread: none is needed

    async def fetch(n: int) -> int:
        return n + 1

    assert await thread.call_thread(fetch, 1) == 2  # a coroutine function: awaited
    assert await thread.call_thread(sorted, {"b", "a"}) == ["a", "b"]  # a plain function


def test_the_router_consumer_thread_runs_on_the_app_loop() -> None:
    app = create_app(Settings.from_env({"HOOKLINE_TOPIC_PREFIX": "t-consumer-loop"}))
    thread = cast(Any, app.consumer)._thread
    assert isinstance(thread, ConsumerThread)
    assert thread.thread_loop is thread.parent_loop
