"""The router's groups (router/group.py): a lone event is routed at once, events that
arrive while a group is routed go together into the next, in order, never more than
``most`` at a time; a failure reaches the caller."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from hookline.router.group import GroupRunner


class Work:
    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.release = asyncio.Event()

    async def __call__(self, group: Sequence[int]) -> None:
        self.groups.append(list(group))
        await self.release.wait()


async def test_a_lone_item_starts_at_once_and_the_rest_wait_for_the_next_group() -> None:
    work = Work()
    runner = GroupRunner(work, most=100)
    await runner.add(1)
    await asyncio.sleep(0)  # the runner's task starts: no timer, no company waited for
    assert work.groups == [[1]]
    for n in range(2, 6):  # while the first group is under way
        await runner.add(n)
    assert work.groups == [[1]] and len(runner) == 4
    work.release.set()
    await runner.finish()
    assert work.groups == [[1], [2, 3, 4, 5]]
    await runner.add(6)  # idle again: at once
    await runner.finish()
    assert work.groups[-1] == [6]


async def test_add_waits_while_most_items_wait() -> None:
    work = Work()
    runner = GroupRunner(work, most=3)
    await runner.add(0)
    await asyncio.sleep(0)
    for n in (1, 2):
        await runner.add(n)
    third = asyncio.create_task(runner.add(3))  # the third waiting one: add holds
    await asyncio.sleep(0.01)
    assert not third.done()
    work.release.set()
    await third
    await runner.finish()
    assert work.groups == [[0], [1, 2, 3]]


async def test_the_works_failure_reaches_the_caller() -> None:
    async def fail(group: Sequence[int]) -> None:
        raise RuntimeError("broker gone")

    runner = GroupRunner(fail, most=10)
    await runner.add(1)
    with pytest.raises(RuntimeError, match="broker gone"):
        await runner.finish()
    with pytest.raises(RuntimeError, match="broker gone"):
        await runner.add(2)
