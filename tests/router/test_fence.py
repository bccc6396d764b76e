"""Tests for the two fences that make subscription changes take effect:
``SubscriptionFeed.fence`` (coalesced rounds) and the router's ``CoveringFence``."""

from __future__ import annotations

import asyncio

import pytest

from hookline.core.config import Settings
from hookline.core.feed import SubscriptionFeed
from hookline.core.subscriptions import SubscriptionTable
from hookline.router.fence import CoveringFence


class CountingFeed(SubscriptionFeed):
    """A feed whose catch-up is a pause we control, counting rounds."""

    def __init__(self) -> None:
        super().__init__(Settings.from_env({}), SubscriptionTable())
        self.rounds = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def wait_caught_up(self, timeout_s: float = 30.0) -> None:
        self.rounds += 1
        await self.gate.wait()
        if self.fail:
            raise TimeoutError("the feed did not catch up")


async def test_many_concurrent_callers_share_one_round() -> None:
    feed = CountingFeed()
    await asyncio.gather(*(feed.fence() for _ in range(100)))
    assert feed.rounds == 1


async def test_a_caller_during_a_round_waits_for_the_next_one() -> None:
    feed = CountingFeed()
    feed.gate.clear()
    first = asyncio.create_task(feed.fence())
    await asyncio.sleep(0)  # the first round is under way, its end offsets read
    late = asyncio.create_task(feed.fence())
    await asyncio.sleep(0)
    assert feed.rounds == 1
    feed.gate.set()
    await first
    await late
    assert feed.rounds == 2  # the late caller did not reuse the round that began before it


async def test_a_failed_round_fails_its_callers_and_the_next_call_tries_again() -> None:
    feed = CountingFeed()
    feed.fail = True
    with pytest.raises(TimeoutError):
        await feed.fence()
    feed.fail = False
    await feed.fence()
    assert feed.rounds == 2


async def test_one_round_covers_every_event_fetched_before_it() -> None:
    rounds: list[int] = []

    async def fence() -> None:
        rounds.append(1)

    fetched = {"p0": 100, "p1": 40}  # next offsets to fetch when the round starts

    async def positions() -> dict[str, int]:
        return dict(fetched)

    covering = CoveringFence(fence, positions)  # type: ignore[arg-type]
    await covering.cover("p0", 50)
    for tp, offset in [("p0", 51), ("p0", 99), ("p1", 0), ("p1", 39)]:
        await covering.cover(tp, offset)
    assert len(rounds) == 1
    fetched["p0"] = 130
    await covering.cover("p0", 100)  # fetched after the round: a new one
    assert len(rounds) == 2 and covering.rounds == 2


async def test_the_event_itself_is_covered_even_without_a_position() -> None:
    calls: list[int] = []

    async def fence() -> None:
        calls.append(1)

    async def positions() -> dict[str, int]:
        return {}

    covering = CoveringFence(fence, positions)  # type: ignore[arg-type]
    await covering.cover("p0", 7)
    await covering.cover("p0", 7)
    assert len(calls) == 1 and covering.covers("p0", 7) and not covering.covers("p0", 8)


async def test_a_failing_fence_is_tried_again_not_skipped() -> None:
    attempts: list[int] = []

    async def fence() -> None:
        attempts.append(1)
        if len(attempts) < 2:
            raise TimeoutError("slow broker")

    async def positions() -> dict[str, int]:
        return {"p0": 1}

    covering = CoveringFence(fence, positions)  # type: ignore[arg-type]
    await asyncio.wait_for(covering.cover("p0", 0), timeout=5)
    assert len(attempts) == 2 and covering.covers("p0", 0)
