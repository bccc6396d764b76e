"""Events routed in groups that size themselves to the load, with no timer.

The first event handed in starts a group at once; every event handed in while that
group is being routed (fence, produce, ``acks=all``) waits for the next group, which
starts as soon as the first is done. An idle router routes a lone event without
waiting for company; a busy one routes as many as arrived during one group's round
trips, up to ``most``. (Faust's ``take_events`` waited up to its ``within`` for a
batch to fill, 10 ms a lone event, and woke on that timer when idle.)

``add`` returns at once unless ``most`` events already wait: then it waits until a
group has taken them, so a fetched backlog is not read into memory faster than it
is routed. Groups run one after the other, in the order their events were handed in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupRunner(Generic[T]):
    def __init__(self, work: Callable[[Sequence[T]], Awaitable[None]], most: int) -> None:
        self._work = work  # one group, in order
        self._most = most
        self._waiting: list[T] = []
        self._taken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failed: Exception | None = None  # the work's failure; no group runs after it

    def __len__(self) -> int:
        return len(self._waiting)

    async def add(self, item: T) -> None:
        self._raise_failure()
        self._waiting.append(item)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        while len(self._waiting) >= self._most:
            self._taken.clear()
            await self._taken.wait()
            self._raise_failure()

    async def finish(self) -> None:
        """Wait until every group handed in is done (raises the work's failure)."""
        if self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failed is not None:
            raise self._failed

    async def _run(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting[: self._most], self._waiting[self._most :]
                self._taken.set()
                await self._work(group)
        except Exception as exc:  # handed to the next caller of add or finish
            self._failed = exc
            self._taken.set()
