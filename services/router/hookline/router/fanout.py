"""The bulk lane, router side: an event whose fan-out is over its tenant's share is
routed by the fan-out agent onto ``hookline.deliveries.bulk`` (``hookline.core.lanes``).

``BulkLane.hand_off`` is what the main agent does instead of planning such an event:
one ``FanOut`` record on the router's fan-out topic, so its batch (and the next
tenant's events behind it) takes one send for the event, not one per subscription.

``FanOutRouter.route`` is the fan-out agent's work: plan each handed-off event for the
subscriptions it matched that are still active (as they are now: a changed ``fields``
applies), send the deliveries to the bulk lane, then acknowledge. It
yields to the event loop every ``YIELD_EVERY`` deliveries, so the main agent keeps
routing while a large fan-out is planned. The agent acknowledges its records only
after every delivery is acknowledged by the broker: a router killed mid-way plans the
fan-out again (the same delivery ids), and loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any

from hookline.core import metrics
from hookline.core.failure import reason_of
from hookline.core.lanes import FanOut, FanoutBudget, FanOutError
from hookline.core.messages import Delivery, Event, MessageError, SubscriptionRecord
from hookline.core.routing import BATCH, plan_deliveries
from hookline.core.subscriptions import ACTIVE, SubscriptionIndex

log = logging.getLogger(__name__)

YIELD_EVERY = 200
SMALL_FAN_OUT = 10
SendFanOut = Callable[[FanOut], Awaitable[Awaitable[Any]]]
Send = Callable[[Delivery], Awaitable[Awaitable[Any]]]
# As in route.py (which imports this module): a fetched record, and what quarantines one.
Fetched = tuple[bytes | None, Hashable, int, bytes | None]
Quarantine = Callable[[Fetched, str], Awaitable[None]]


class BulkLane:
    def __init__(self, budget: FanoutBudget, send: SendFanOut) -> None:
        self.budget = budget
        self._send = send

    def fits(self, event: Event, matched: int) -> bool:
        """Whether the event's fan-out fits its tenant's share of the main lane now. An
        event to a handful of subscriptions always does (it still uses up the share):
        the lane is for large fan-outs; many small events are the API rate limit's."""
        taken = self.budget.take(event.tenant, matched, time.monotonic())
        return taken or matched <= SMALL_FAN_OUT

    async def hand_off(self, event: Event, offset: int, subscription_ids: list[int]) -> Any:
        """What to await for the broker's ack of the hand-off."""
        log.info(
            "fan-out of %d to the bulk lane",
            len(subscription_ids),
            extra={"ctx": {"event_id": event.event_id, "tenant": event.tenant}},
        )
        return await self._send(FanOut(event.encode().decode(), offset, subscription_ids))


class FanOutRouter:
    def __init__(
        self,
        index: SubscriptionIndex,
        *,
        send_bulk: Send,
        send_item: Send,
        counts: Any,
        quarantine: Quarantine,
    ) -> None:
        self.index = index
        self._send_bulk = send_bulk
        self._send_item = send_item
        self._counts = counts
        self._quarantine = quarantine

    async def route(self, fetched: Iterable[Fetched]) -> int:
        """Plan and send every handed-off event; the number of deliveries sent. A record
        that cannot be read is quarantined (``hookline.core.quarantine``)."""
        acks: list[Awaitable[Any]] = []
        sent = 0
        for record in fetched:
            if record[0] is None:
                continue
            try:
                event, fan_out = _decoded(record[0])
            except (FanOutError, MessageError) as exc:
                await self._quarantine(record, reason_of(exc))
                continue
            subs = _active(map(self.index.get, fan_out.subscriptions))
            planned = plan_deliveries(event, subs, time.time(), order=fan_out.order)
            for d in planned:
                send = self._send_item if d.format == BATCH else self._send_bulk
                acks.append(await send(d))
                sent += 1
                if sent % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # the main agent's turn
            metrics.fanned_out(len(planned))
        for ack in acks:
            await ack
        self._counts.deliveries += sent
        return sent


def _active(subs: Iterable[SubscriptionRecord | None]) -> list[SubscriptionRecord]:
    return [s for s in subs if s is not None and s.status == ACTIVE]


def _decoded(raw: bytes) -> tuple[Event, FanOut]:
    fan_out = FanOut.decode(raw)
    return Event.decode(fan_out.event.encode()), fan_out
