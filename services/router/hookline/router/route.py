"""The router's two steps, as plain classes the Faust agents call (app.py).

``EventRouter.route_batch`` handles a batch of events of ``hookline.events``, in the
order fetched (``route`` is a batch of one):

1. fence: the subscription changes acknowledged before the events are applied (one
   fence round covers every event fetched before it, so about one round a batch);
2. drop an event if its ``eventId`` was routed within the dedup window (duplicate),
   or if a newer version of its object was already routed (stale), earlier in the
   same batch included;
3. plan one delivery per matching subscription (``hookline.core.routing``) and hand
   it to the producer without waiting; a ``format: batch`` subscription gets an item
   instead: the batch's items that fill whole batches of its subscription (50 each)
   go out as batch deliveries at once, the tail goes to the batch topic to be joined
   by later items (under load nearly every item skips that hop);
4. wait until the broker acknowledged every delivery of the batch (one wait a batch,
   so the producer sends them in a few large requests), then remember the events
   (``recent.py``: in memory, and on the router's ``routed`` topic for the others).

The agent commits the events' offsets only after ``route_batch`` returns, so a router
killed at any point routes them again (same delivery ids) instead of losing them.

``Batcher.flush`` turns the items gathered from the batch topic into batch
deliveries (``hookline.core.batches``); its agent acknowledges the items only after
those are written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from hookline.core import metrics
from hookline.core.batches import build_batches, split_full
from hookline.core.messages import Delivery, Event, MessageError, RoutedBatch
from hookline.core.routing import BATCH, dedup_key, is_stale, plan_deliveries
from hookline.core.subscriptions import SubscriptionIndex
from hookline.router.fence import CoveringFence
from hookline.router.recent import Recent

log = logging.getLogger(__name__)

# Hands a message to the producer and returns what to await for the broker's ack.
Send = Callable[[Delivery], Awaitable[Awaitable[Any]]]
Tell = Callable[[RoutedBatch], Awaitable[Awaitable[Any]]]


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
        """One event: a batch of one."""
        await self.route_batch([(raw, tp, offset)])

    async def route_batch(self, batch: Sequence[tuple[bytes | None, Hashable, int]]) -> None:
        """Events in the order fetched: all their deliveries are handed to the producer,
        then the acknowledgements are awaited once for the whole batch (one produce
        round trip per batch, not per event); only then are the events remembered."""
        events = list(_decoded(batch))
        for _, tp, offset in events:  # one fence round covers every event fetched
            await self.fence.cover(tp, offset)
        pending = _Pending(self.recent, time.time())
        acks: list[Awaitable[Any]] = []
        routed: list[tuple[Event, list[Delivery]]] = []
        items: list[Delivery] = []
        for event, _, offset in events:
            if not self._admit(event, pending):
                continue
            planned = self._plan(event, offset)
            for d in planned:
                if d.format == BATCH:
                    items.append(d)
                else:
                    acks.append(await self._send_delivery(d))
            pending.add(event)  # a copy later in this batch is a duplicate
            routed.append((event, planned))
        # Items that fill whole batches go out as batches at once; only a subscription's
        # tail takes the way through the batch topic, to be joined by later items.
        full, rest = split_full(items)
        batches = build_batches(full, time.time())
        acks += [await self._send_delivery(b) for b in batches]
        acks += [await self._send_item(item) for item in rest]
        self.counts.batches += len(batches)
        for ack in acks:
            await ack
        now = time.time()
        told = [self.recent.remember(event, now) for event, _ in routed]
        if told:
            # Not awaited: if the router stops before this record is written, a copy of
            # an event published later is routed again (at least once), nothing is lost.
            await self._tell(RoutedBatch(told))
        for _, planned in routed:
            self._count(planned)

    def _admit(self, event: Event, pending: _Pending) -> bool:
        if pending.seen(event):
            self.counts.duplicates += 1
            log.info("dropping a duplicate", extra={"ctx": _ids(event)})
            return False
        if is_stale(event, pending.newest_version(event)):
            self.counts.stale += 1
            log.info("dropping an older version", extra={"ctx": _ids(event)})
            return False
        return True

    def _plan(self, event: Event, offset: int) -> list[Delivery]:
        started = time.perf_counter()
        planned = plan_deliveries(
            event, self.index.matching(event.tenant, event.event), time.time(), order=offset
        )
        metrics.ROUTER_MATCH.observe(time.perf_counter() - started)
        return planned

    def _count(self, planned: list[Delivery]) -> None:
        items = sum(1 for d in planned if d.format == BATCH)
        self.counts.events += 1
        self.counts.batch_items += items
        self.counts.deliveries += len(planned) - items
        metrics.routed(len(planned))


def _decoded(
    batch: Iterable[tuple[bytes | None, Hashable, int]],
) -> Iterator[tuple[Event, Hashable, int]]:
    for raw, tp, offset in batch:
        if raw is None:
            continue
        try:
            yield Event.decode(raw), tp, offset
        except MessageError:
            log.exception("skipping an undecodable event at offset %s of %s", offset, tp)


class _Pending:
    """``Recent`` as it will be once this batch's events are remembered. They are
    remembered (and told to the other workers) only after their deliveries are
    acknowledged, so meanwhile a duplicate or an older version inside the batch is
    judged against this overlay."""

    def __init__(self, recent: Recent, now: float) -> None:
        self._recent = recent
        self._now = now
        self._seen: set[str] = set()
        self._versions: dict[str, int] = {}

    def seen(self, event: Event) -> bool:
        return dedup_key(event) in self._seen or self._recent.seen(event, self._now)

    def newest_version(self, event: Event) -> int | None:
        held = self._recent.newest_version(event, self._now)
        if event.id is None:
            return held
        mine = self._versions.get(event.key().decode())
        return mine if held is None else held if mine is None else max(held, mine)

    def add(self, event: Event) -> None:
        self._seen.add(dedup_key(event))
        if event.version is not None and event.id is not None:
            key = event.key().decode()
            self._versions[key] = max(event.version, self._versions.get(key, event.version))


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
