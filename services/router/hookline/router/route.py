"""The router's two steps, as plain classes the Faust agents call (app.py).

``EventRouter.route`` handles one event of ``hookline.events``:

1. fence: the subscription changes acknowledged before the event are applied;
2. drop it if its ``eventId`` was routed within the dedup window (duplicate), or
   if a newer version of its object was already routed (stale);
3. plan one delivery per matching subscription (``hookline.core.routing``); a
   ``format: batch`` subscription's item goes to the batch topic instead;
4. wait until the broker acknowledged every one of them, then remember the event
   (``recent.py``: in memory, and on the router's ``routed`` topic for the others).

The agent commits the event's offset only after ``route`` returns, so a router
killed at any point routes the event again (same delivery ids) instead of losing it.

``Batcher.flush`` turns the items gathered from the batch topic into batch
deliveries (``hookline.core.batches``); its agent acknowledges the items only after
those are written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from hookline.core import metrics
from hookline.core.batches import build_batches
from hookline.core.messages import Delivery, Event, MessageError, Routed
from hookline.core.routing import BATCH, is_stale, plan_deliveries
from hookline.core.subscriptions import SubscriptionIndex
from hookline.router.fence import CoveringFence
from hookline.router.recent import Recent

log = logging.getLogger(__name__)

# Hands a message to the producer and returns what to await for the broker's ack.
Send = Callable[[Delivery], Awaitable[Awaitable[Any]]]
Tell = Callable[[Routed], Awaitable[Awaitable[Any]]]


@dataclass
class Counts:
    """What ``/healthz`` shows (and tests read)."""

    events: int = 0
    duplicates: int = 0
    stale: int = 0
    deliveries: int = 0
    batch_items: int = 0
    batches: int = 0


class EventRouter:
    def __init__(
        self,
        index: SubscriptionIndex,
        fence: CoveringFence,
        recent: Recent,
        *,
        send_delivery: Send,
        send_item: Send,
        tell: Tell,
    ) -> None:
        self.index = index
        self.fence = fence
        self.recent = recent
        self.counts = Counts()
        self._send_delivery = send_delivery
        self._send_item = send_item
        self._tell = tell

    async def route(self, raw: bytes | None, tp: Hashable, offset: int) -> None:
        if raw is None:
            return
        try:
            event = Event.decode(raw)
        except MessageError:
            log.exception("skipping an undecodable event at offset %s of %s", offset, tp)
            return
        await self.fence.cover(tp, offset)
        now = time.time()
        if self.recent.seen(event, now):
            self.counts.duplicates += 1
            log.info("dropping a duplicate", extra={"ctx": _ids(event)})
            return
        if is_stale(event, self.recent.newest_version(event, now)):
            self.counts.stale += 1
            log.info("dropping an older version", extra={"ctx": _ids(event)})
            return
        started = time.perf_counter()
        planned = plan_deliveries(
            event, self.index.matching(event.tenant, event.event), now, order=offset
        )
        metrics.ROUTER_MATCH.observe(time.perf_counter() - started)
        acks = [
            await (self._send_item if d.format == BATCH else self._send_delivery)(d)
            for d in planned
        ]
        for ack in acks:
            await ack
        # Not awaited: if the router stops before this record is written, a copy of the
        # event published later is routed again (at least once), and nothing is lost.
        await self._tell(self.recent.remember(event, time.time()))
        self._count(planned)

    def _count(self, planned: list[Delivery]) -> None:
        items = sum(1 for d in planned if d.format == BATCH)
        self.counts.events += 1
        self.counts.batch_items += items
        self.counts.deliveries += len(planned) - items
        metrics.routed(len(planned))


def _ids(event: Event) -> dict[str, object]:
    return {"event_id": event.event_id, "tenant": event.tenant, "event": event.event}


class Batcher:
    def __init__(self, send: Send, counts: Counts) -> None:
        self._send = send
        self._counts = counts

    async def flush(self, raws: Iterable[bytes | None]) -> int:
        items = []
        for raw in raws:
            if raw is None:
                continue
            try:
                items.append(Delivery.decode(raw))
            except MessageError:
                log.exception("skipping an undecodable batch item")
        batches = build_batches(items, time.time())
        acks = [await self._send(b) for b in batches]
        for ack in acks:
            await ack
        self._counts.batches += len(batches)
        return len(batches)
