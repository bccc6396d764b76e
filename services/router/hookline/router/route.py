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

An event that cannot be routed (undecodable, wrong types, a value the planner or
the encoder refuses: ``failure.is_poison``) is quarantined with the reason and the
others of its batch go on: a batch of ``format: batch`` objects that cannot be
encoded together is taken apart, and only the events whose objects fail on their
own are quarantined. A quarantined event is not remembered, so re-driving it
routes it (deliveries of it that did leave go again, with the same ids).
Infrastructure failures still raise: the agent exits and the events are read again.

``Batcher.flush`` turns the items gathered from the batch topic into batch
deliveries (``hookline.core.batches``); its agent acknowledges the items only after
those are written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hookline.core import metrics
from hookline.core.batches import batch_of, build_batches, split_full
from hookline.core.failure import is_poison, reason_of
from hookline.core.messages import Delivery, Event, MessageError, RoutedBatch, SubscriptionRecord
from hookline.core.routing import BATCH, dedup_key, is_stale, plan_deliveries
from hookline.core.subscriptions import SubscriptionIndex
from hookline.router.fanout import BulkLane
from hookline.router.fence import CoveringFence
from hookline.router.recent import Recent

log = logging.getLogger(__name__)

# Hands a message to the producer and returns what to await for the broker's ack.
Send = Callable[[Delivery], Awaitable[Awaitable[Any]]]
Tell = Callable[[RoutedBatch], Awaitable[Awaitable[Any]]]
# One record as fetched: its value, topic-partition, offset and key.
Fetched = tuple[bytes | None, Hashable, int, bytes | None]
# Sets a record aside (``quarantine.send_to_quarantine``) with the reason; returns
# once the broker has it.
Quarantine = Callable[[Fetched, str], Awaitable[None]]


@dataclass
class Counts:
    """What ``/healthz`` shows (and tests read)."""

    events: int = 0
    duplicates: int = 0
    stale: int = 0
    deliveries: int = 0
    batch_items: int = 0
    batches: int = 0
    handed_off: int = 0  # events whose fan-out went to the bulk lane


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
        quarantine: Quarantine,
        bulk: BulkLane | None = None,
    ) -> None:
        self.index = index
        self.bulk = bulk
        self.fence = fence
        self.recent = recent
        self.counts = Counts()
        self._send_delivery = send_delivery
        self._send_item = send_item
        self._tell = tell
        self._quarantine = quarantine

    async def route_batch(self, batch: Sequence[Fetched]) -> None:
        """Events in the order fetched: all their deliveries are handed to the producer,
        then the acknowledgements are awaited once for the whole batch (one produce
        round trip per batch, not per event); only then are the events remembered."""
        events = await self._decoded(batch)
        for _, (_, tp, offset, _) in events:  # one fence round covers every event fetched
            await self.fence.cover(tp, offset)
        pending = _Pending(self.recent, time.time())
        acks: list[Awaitable[Any]] = []
        routed: dict[str, tuple[Event, list[Delivery]]] = {}
        items: list[Delivery] = []
        sources: dict[str, Fetched] = {}  # by event id: what to quarantine for an item
        for event, fetched in events:
            if not self._admit(event, pending):
                continue
            try:
                planned, mine = await self._send_planned(event, fetched[2], acks)
            except Exception as exc:
                if not is_poison(exc):
                    raise
                await self._quarantine(fetched, reason_of(exc))
                continue
            items += mine
            sources[event.event_id] = fetched
            pending.add(event)  # a copy later in this batch is a duplicate
            routed[event.event_id] = (event, planned)
        poisoned = await self._send_items(items, acks, sources)
        for event_id in poisoned:
            routed.pop(event_id, None)
        for ack in acks:
            await ack
        now = time.time()
        told = [self.recent.remember(event, now) for event, _ in routed.values()]
        if told:
            # Not awaited: if the router stops before this record is written, a copy of
            # an event published later is routed again (at least once), nothing is lost.
            await self._tell(RoutedBatch(told))
        for _, planned in routed.values():
            self._count(planned)

    async def _decoded(self, batch: Iterable[Fetched]) -> list[tuple[Event, Fetched]]:
        events = []
        for fetched in batch:
            raw = fetched[0]
            if raw is None:  # a tombstone: nothing to route
                continue
            try:
                events.append((Event.decode(raw), fetched))
            except MessageError as exc:
                await self._quarantine(fetched, reason_of(exc))
        return events

    async def _send_planned(
        self, event: Event, offset: int, acks: list[Awaitable[Any]]
    ) -> tuple[list[Delivery], list[Delivery]]:
        """Plan ``event``'s deliveries and hand the plain ones to the producer; returns
        them all and the batch items among them (sent with the batch's others)."""
        planned = await self._plan_or_hand_off(event, offset, acks)
        items = []
        for d in planned:
            if d.format == BATCH:
                items.append(d)
            else:
                acks.append(await self._send_delivery(d))
        return planned, items

    async def _send_items(
        self, items: list[Delivery], acks: list[Awaitable[Any]], sources: dict[str, Fetched]
    ) -> set[str]:
        """Items that fill whole batches go out as batches at once; only a subscription's
        tail takes the way through the batch topic, to be joined by later items.
        Returns the ids of the events quarantined because an object of theirs cannot
        be sent."""
        full, rest = split_full(items)
        sent, poisoned = await send_batches(self._send_delivery, full, acks)
        for item in rest:
            try:
                acks.append(await self._send_item(item))
            except Exception as exc:
                if not is_poison(exc):
                    raise
                poisoned.append((item, reason_of(exc)))
        reasons = {item.event_id: reason for item, reason in poisoned}  # once an event
        for event_id, reason in reasons.items():
            await self._quarantine(sources[event_id], reason)
        self.counts.batches += sent
        return set(reasons)

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

    async def _plan_or_hand_off(
        self, event: Event, offset: int, acks: list[Awaitable[Any]]
    ) -> list[Delivery]:
        """The event's deliveries, or none when its fan-out is over its tenant's share of
        the main lane: then it is handed to the fan-out agent (``fanout.py``)."""
        matched = self.index.matching(event.tenant, event.event)
        if self.bulk is not None and not self.bulk.fits(event, len(matched)):
            acks.append(await self.bulk.hand_off(event, offset, [s.id for s in matched]))
            self.counts.handed_off += 1
            return []
        return self._plan(event, offset, matched)

    def _plan(self, event: Event, offset: int, matched: list[SubscriptionRecord]) -> list[Delivery]:
        started = time.perf_counter()
        planned = plan_deliveries(event, matched, time.time(), order=offset)
        metrics.ROUTER_MATCH.observe(time.perf_counter() - started)
        return planned

    def _count(self, planned: list[Delivery]) -> None:
        items = sum(1 for d in planned if d.format == BATCH)
        self.counts.events += 1
        self.counts.batch_items += items
        self.counts.deliveries += len(planned) - items
        metrics.routed(len(planned))


async def send_batches(
    send: Send, items: list[Delivery], acks: list[Awaitable[Any]]
) -> tuple[int, list[tuple[Delivery, str]]]:
    """Hand the batches of ``items`` to the producer (their acks into ``acks``).

    A batch that cannot be encoded (an object nested too deep to be nested once more,
    say) is taken apart: each of its items alone shows whether it is the poison, and
    the batch goes out again without those. Returns how many batches were sent and
    the items left out, each with its reason.
    """
    poisoned: list[tuple[Delivery, str]] = []
    sent = 0
    now = time.time()
    for batch in build_batches(items, now):
        try:
            acks.append(await send(batch))
            sent += 1
            continue
        except Exception as exc:
            if not is_poison(exc):
                raise
        good = []
        for item in _members(items, batch):
            try:
                batch_of([item], now).encode()
                good.append(item)
            except Exception as exc:
                if not is_poison(exc):
                    raise
                poisoned.append((item, reason_of(exc)))
        for again in build_batches(good, now):
            acks.append(await send(again))
            sent += 1
    return sent, poisoned


def _members(items: list[Delivery], batch: Delivery) -> list[Delivery]:
    """The items ``batch`` was built of (its subscription, event type and event ids)."""
    ids = {entry.get("eventId") for entry in batch.items or ()}
    return [
        i
        for i in items
        if i.subscription_id == batch.subscription_id
        and i.event == batch.event
        and i.event_id in ids
    ]


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
    """Joins the items of the batch topic into batch deliveries; an item that cannot
    be decoded or sent is quarantined (its own record, on the batch topic)."""

    def __init__(self, send: Send, counts: Counts, quarantine: Quarantine) -> None:
        self._send = send
        self._counts = counts
        self._quarantine = quarantine

    async def flush(self, fetched: Iterable[Fetched]) -> int:
        items = []
        sources: dict[int, Fetched] = {}  # by id(item)
        for record in fetched:
            raw = record[0]
            if raw is None:
                continue
            try:
                item = Delivery.decode(raw)
            except MessageError as exc:
                await self._quarantine(record, reason_of(exc))
                continue
            items.append(item)
            sources[id(item)] = record
        acks: list[Awaitable[Any]] = []
        sent, poisoned = await send_batches(self._send, items, acks)
        for item, reason in poisoned:
            await self._quarantine(sources[id(item)], reason)
        for ack in acks:
            await ack
        self._counts.batches += sent
        return sent
