"""Route no event before the subscription changes acknowledged before it are applied.

A subscription change is acknowledged (written to ``hookline.subscriptions``) before
the event that must see it is published, and so before the router fetches that
event. A fence round reads the subscription topic's end offsets and waits for the
feed to reach them; every event *fetched* before the round started is covered by
it. The consumer's position on each events partition, taken when the round starts,
says which events those are, so one round serves a whole fetched batch instead of
one round trip per event. The router fences its ``routed`` feed the same way, so
a copy of an event routed by another worker is known before the copy is routed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Hashable, Mapping

from aiokafka.errors import KafkaError

from hookline.core.errors import Unavailable
from hookline.core.failure import Backoff, retry

log = logging.getLogger(__name__)

Positions = Callable[[], Awaitable[Mapping[Hashable, int]]]
_BACKOFF = Backoff(first_s=0.5, max_s=5.0)
_FAILED_ROUND = (KafkaError, Unavailable, OSError, RuntimeError)  # TimeoutError: an OSError


def _failed_round(exc: BaseException) -> bool:
    return isinstance(exc, _FAILED_ROUND)


class CoveringFence:
    def __init__(self, fence: Callable[[], Awaitable[None]], positions: Positions) -> None:
        self._fence = fence
        self._positions = positions
        self._covered: dict[Hashable, int] = {}
        self.rounds = 0

    def covers(self, tp: Hashable, offset: int) -> bool:
        return offset < self._covered.get(tp, 0)

    async def cover(self, tp: Hashable, offset: int) -> None:
        """Return once the event at ``offset`` of ``tp`` (already fetched) is covered."""

        async def round_unless_covered() -> None:
            if not self.covers(tp, offset):
                await self._round(tp, offset)

        # Routing without the fence could deliver to a deleted subscription: no giving up.
        await retry(
            round_unless_covered, what="subscription fence", when=_failed_round, backoff=_BACKOFF
        )

    async def _round(self, tp: Hashable, offset: int) -> None:
        covered = dict(await self._positions())
        # This event was fetched before the round started, whatever the position says.
        covered[tp] = max(covered.get(tp, 0), offset + 1)
        await self._fence()
        self._covered = covered
        self.rounds += 1
