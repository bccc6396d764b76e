"""The deliverer's loop: many deliveries at once, offsets committed only behind them.

For each message on ``hookline.deliveries`` (in a consumer group, so deliverers
scale out), ``attempt`` looks the subscription up as it is now, waits for a turn
at the target's endpoint (``endpoints``: concurrency limit and circuit breaker),
signs and POSTs the body, classifies the answer, records the attempt, and on
failure puts the delivery on the delay topic for its next try (or the dead
letters after the last; ``plan``). A delivery whose endpoint's circuit is open,
or whose endpoint is stuck, is put on a delay topic without a request and without
using up a retry. Only when that hand-off is acknowledged (``acks=all``) does the
message count as finished; ``OffsetTracker`` commits each partition up to its
lowest unfinished message, so a deliverer killed at any moment loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from hookline.core import kafka, metrics, topics
from hookline.core.config import Settings
from hookline.core.feed import CatalogFeed, SubscriptionFeed
from hookline.core.messages import Attempt, Delivery, MessageError, SubscriptionRecord
from hookline.core.retry import Classification, classify
from hookline.core.subscriptions import ACTIVE, SubscriptionTable
from hookline.deliverer import guard, plan, request, transport
from hookline.deliverer.breaker import endpoint_of, shows_endpoint_down
from hookline.deliverer.endpoints import EndpointGate, Ticket
from hookline.deliverer.offsets import OffsetTracker
from hookline.deliverer.ordering import OrderGate
from hookline.deliverer.resolver import resolver

log = logging.getLogger(__name__)

GROUP = "deliverer"
QUEUED_PER_REQUEST = 4
ATTEMPT_LINGER_MS = 5


class Deliverer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.table = SubscriptionTable()
        self.feed = SubscriptionFeed(settings, self.table, service="deliverer")
        # The plurals that name batch objects.
        self.catalog = CatalogFeed(settings, service="deliverer")
        self.tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self._tasks: set[asyncio.Task[None]] = set()
        # Deliveries read and not finished (what a crash makes it redo), and requests
        # open at once. Waiting for a turn at an endpoint holds only the first, so
        # deliveries queued for a slow endpoint leave the requests to the others.
        self._slots = asyncio.Semaphore(settings.max_in_flight * QUEUED_PER_REQUEST)
        self._requests = asyncio.Semaphore(settings.max_in_flight)
        self._retry_topics = topics.retry_topics(settings)
        self.gate = EndpointGate(
            settings.endpoint_concurrency, settings.breaker_failures, settings.breaker_cooldown_s
        )
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.http: aiohttp.ClientSession | None = None
        self.order = OrderGate(settings)  # version order per object (docs/ordering.md)
        metrics.watch_circuits(lambda: len(self.gate.open_circuits()))

    async def start(self) -> None:
        await kafka.ensure_topics(self.settings)
        await self.feed.start()
        await self.catalog.start()
        await self.order.start()
        # A delivery's attempt record is not on the way to the receiver: lingering 5 ms
        # lets the records of deliveries answered close together share a request.
        self.producer = kafka.producer(self.settings, linger_ms=ATTEMPT_LINGER_MS)
        await self.producer.start()
        connector = aiohttp.TCPConnector(
            limit=self.settings.max_in_flight,
            limit_per_host=0,  # the EndpointGate limits each endpoint, outside the timeout
            resolver=resolver(self.settings.allow_private_targets),
            keepalive_timeout=30,
        )
        self.http = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        # read_committed: never a retry whose transaction the retry scheduler aborted.
        self.consumer = kafka.consumer(
            self.settings,
            group=f"{self.settings.topic_prefix}-{GROUP}",
            isolation_level="read_committed",
        )
        self.consumer.subscribe([topics.deliveries(self.settings)], listener=_Rebalance(self))
        await self.consumer.start()

    async def stop(self) -> None:
        await self.drain()
        for closer in (self.consumer, self.producer):
            if closer is not None:
                await closer.stop()
        if self.http is not None:
            await self.http.close()
        await self.order.stop()
        await self.feed.stop()
        await self.catalog.stop()

    async def run(self, stopping: asyncio.Event) -> None:
        assert self.consumer is not None
        committer = asyncio.create_task(self._commit_every(0.5))
        try:
            while not stopping.is_set():
                batches = await self.consumer.getmany(timeout_ms=200, max_records=500)
                for tp, records in batches.items():
                    for rec in records:
                        await self._slots.acquire()
                        self.tracker.started(tp, rec.offset)
                        task = asyncio.create_task(self._handle(tp, rec.offset, rec.value))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
        finally:
            committer.cancel()
            await asyncio.gather(committer, return_exceptions=True)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.commit()

    async def commit(self) -> None:
        offsets = self.tracker.committable()
        if offsets and self.consumer is not None:
            owned = self.consumer.assignment()
            mine = {tp: off for tp, off in offsets.items() if tp in owned}
            if mine:
                await self.consumer.commit(mine)
                self.tracker.committed(mine)

    async def _commit_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.commit()
            except KafkaError:
                log.warning("commit failed; it is tried again", exc_info=True)

    async def _handle(self, tp: TopicPartition, offset: int, raw: bytes | None) -> None:
        try:
            await self._until_done(raw)
        finally:
            self.tracker.finished(tp, offset)
            self._slots.release()

    async def _until_done(self, raw: bytes | None) -> None:
        """Infrastructure failures (Kafka down) are retried here, never skipped."""
        pause = 0.5
        while True:
            try:
                await self.attempt(raw)
                return
            except (KafkaError, OSError):
                log.exception("handing off a delivery failed; trying again in %.1fs", pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)

    async def attempt(self, raw: bytes | None) -> None:
        """One message of ``hookline.deliveries``, from the subscription lookup to the hand-off."""
        delivery = _decode(raw)
        if delivery is None:
            return
        async with self.order.turn(delivery) as admitted:  # None: a newer version was tried
            sub = await self._current_subscription(delivery)
            if sub is None or admitted is None:
                return
            await self._deliver(sub, admitted)

    async def _current_subscription(self, delivery: Delivery) -> SubscriptionRecord | None:
        """The subscription as it is now; None (and the delivery dropped) when it was
        deleted or disabled since the delivery was made."""
        await self.feed.fence()  # apply every change acknowledged before now (coalesced)
        sub = self.table.get(delivery.subscription_id)
        if sub is None:
            # Created a moment ago and not read yet? Catch up once before giving up.
            with contextlib.suppress(TimeoutError):
                await self.feed.wait_caught_up(timeout_s=10)
            sub = self.table.get(delivery.subscription_id)
        if sub is None or sub.status != ACTIVE:
            log.info(
                "dropping a delivery: subscription %s is gone or disabled",
                delivery.subscription_id,
                extra={"ctx": _ids(delivery)},
            )
            metrics.delivery_skipped("dropped")
            return None
        return sub

    async def _deliver(self, sub: SubscriptionRecord, delivery: Delivery) -> None:
        assert self.http is not None
        now = time.time()
        body = request.body_for(sub, delivery)
        req = request.build(sub, delivery, body, int(now), request.signing_secrets(sub, now))
        refused = guard.refusal(
            req.url,
            allow_http=self.settings.allow_http_targets,
            allow_private=self.settings.allow_private_targets,
        )
        if refused is not None:  # recorded like any failed attempt, without a request
            await self._record(delivery, transport.Answer(None, 0.0, error=refused, sent=False))
            return
        ticket = await self.gate.admit(endpoint_of(req.url))
        if ticket.deferred:
            await self._defer(delivery, ticket)
            return
        try:
            async with self._requests:
                answer = await transport.send(self.http, req, self.settings.delivery_timeout_s)
            down = shows_endpoint_down(answer.status, answer.sent)
            ticket.record(down=down, answered=answer.status is not None)
        finally:
            ticket.release()
        await self._record(delivery, answer)

    async def _record(self, delivery: Delivery, answer: transport.Answer) -> None:
        """Emit the attempt and, unless it succeeded, hand the delivery to its next stop;
        finished only when the broker has acknowledged both."""
        now = time.time()
        verdict = classify(
            answer.status,
            error=answer.error,
            retry_after=answer.retry_after,
            now=now,
            max_retry_after_s=self.settings.max_retry_after_s,
            refused=not answer.sent,
        )
        metrics.delivery_attempted(verdict.outcome.value, answer.latency_ms / 1000)
        attempt = _attempt_of(delivery, verdict, answer, now)
        sends = [await self._send(topics.attempts(self.settings), attempt.key(), attempt.encode())]
        stop = plan.after_attempt(delivery, verdict, now, self.settings.retry_delays)
        if stop is not None:
            topic = self._topic_of(stop)
            if stop.delay_index is None:
                metrics.dead_lettered()
            else:
                metrics.retry_scheduled(self.settings.retry_delays[stop.delay_index])
            sends.append(await self._send(topic, stop.delivery.key(), stop.delivery.encode()))
            log.info(
                "delivery failed (%s); next stop %s",
                verdict.reason,
                topic,
                extra={"ctx": _ids(delivery)},
            )
        await asyncio.gather(*sends)

    async def _defer(self, delivery: Delivery, ticket: Ticket) -> None:
        """Put off without a request (circuit open, endpoint stuck): no retry used up."""
        metrics.delivery_skipped("deferred")
        stop = plan.deferral(delivery, ticket.wait_s, time.time(), self.settings.retry_delays)
        await (await self._send(self._topic_of(stop), delivery.key(), stop.delivery.encode()))
        log.debug("delivery put off: %s", ticket.reason, extra={"ctx": _ids(delivery)})

    async def _send(self, topic: str, key: bytes, value: bytes) -> asyncio.Future[object]:
        assert self.producer is not None
        sent: asyncio.Future[object] = await self.producer.send(topic, value, key=key)
        return sent

    def _topic_of(self, stop: plan.Stop) -> str:
        if stop.delay_index is None:
            return topics.dead_letters(self.settings)
        return self._retry_topics[stop.delay_index]


def _decode(raw: bytes | None) -> Delivery | None:
    if raw is None:
        return None
    try:
        return Delivery.decode(raw)
    except MessageError:
        log.exception("skipping an undecodable delivery")
        return None


def _attempt_of(
    delivery: Delivery, verdict: Classification, answer: transport.Answer, now: float
) -> Attempt:
    return Attempt(
        delivery_id=delivery.delivery_id,
        subscription_id=delivery.subscription_id,
        tenant=delivery.tenant,
        event=delivery.event,
        event_id=delivery.event_id,
        attempt=delivery.attempt + 1,
        at=now,
        outcome=verdict.outcome.name,
        reason=verdict.reason,
        status=answer.status,
        latency_ms=answer.latency_ms,
        response_body=answer.body,
    )


def _ids(d: Delivery) -> dict[str, object]:
    return {
        "delivery_id": d.delivery_id,
        "subscription_id": d.subscription_id,
        "tenant": d.tenant,
        "event_id": d.event_id,
    }


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Before partitions move to another deliverer, finish what was started on them
    and commit, so the new owner redoes as little as possible."""

    def __init__(self, deliverer: Deliverer) -> None:
        self._deliverer = deliverer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        tracker = self._deliverer.tracker
        while any(tracker.in_flight(tp) for tp in revoked):  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # bounded: every delivery has a timeout
        await self._deliverer.commit()
        for tp in revoked:
            tracker.forget(tp)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        return None
