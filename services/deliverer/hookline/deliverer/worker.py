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

Every message ends in one of four ways before its offset is finished: done (sent,
or dropped on purpose: its subscription is gone, a newer version was tried),
handed to a retry topic, handed to the dead letters, or quarantined
(``hookline.core.failure``): an infrastructure failure (Kafka, PostgreSQL) is
retried with a bounded backoff, the stage that failed only (a hand-off that fails
does not send the request again); anything else raised for a message is poison and
goes to the quarantine with its reason, and the partition moves on. A stop, or a
revoke, while Kafka or PostgreSQL is down leaves such a message unfinished (so
nothing is committed past it; its next owner does it again) within a bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from hookline.core import kafka, kafka_access, metrics, topics
from hookline.core.config import Settings
from hookline.core.failure import Failure, Stopped, every, reason_of, retry_infra
from hookline.core.failure import classify as classify_failure
from hookline.core.feed import CatalogFeed, SubscriptionFeed
from hookline.core.keyring import Keyring
from hookline.core.messages import Attempt, Delivery, MessageError, SubscriptionRecord
from hookline.core.quarantine import send_to_quarantine
from hookline.core.retry import Classification, classify
from hookline.core.subscriptions import ACTIVE, SubscriptionTable
from hookline.deliverer import guard, plan, request, transport
from hookline.deliverer.breaker import Admission, endpoint_of, shows_endpoint_down
from hookline.deliverer.endpoints import EndpointGate, Ticket
from hookline.deliverer.lanes import BulkReadAhead
from hookline.deliverer.offsets import OffsetTracker
from hookline.deliverer.opening import Opener
from hookline.deliverer.ordering import OrderGate
from hookline.deliverer.resolver import resolver
from hookline.deliverer.tenants import TenantGate

log = logging.getLogger(__name__)

GROUP = "deliverer"
QUEUED_PER_REQUEST = 4
ATTEMPT_LINGER_MS = 5
TENANT_PUT_OFF = "the tenant's requests are not answered, or its queue is full"
# Bounds on a stop and a revoke while Kafka or PostgreSQL is down: a commit, a
# client's close, and what a delivery gets beyond its own timeout to finish.
COMMIT_TIMEOUT_S = 5.0
CLOSE_TIMEOUT_S = 10.0
FINISH_MARGIN_S = 10.0
T = TypeVar("T")


def finish_wait_s(settings: Settings) -> float:
    """How long a revoke or a stop waits for the deliveries in flight: one request's
    timeout and a hand-off. What is not finished by then is left to be redone."""
    return settings.delivery_timeout_s + FINISH_MARGIN_S


class Deliverer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.table = SubscriptionTable()
        self.feed = SubscriptionFeed(settings, self.table, service="deliverer")
        self.opener = Opener(Keyring(settings.secrets_keys))  # the secrets, for requests
        # The plurals that name batch objects.
        self.catalog = CatalogFeed(settings, service="deliverer")
        self.tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self._tasks: dict[asyncio.Task[None], TopicPartition] = {}
        self._stopping = asyncio.Event()  # run()'s, once it runs
        self.fatal: BaseException | None = None
        # Deliveries read and not finished (what a crash makes it redo), and requests
        # open at once. Waiting for a turn at an endpoint holds only the first, so
        # deliveries queued for a slow endpoint leave the requests to the others.
        self._slots = asyncio.Semaphore(settings.max_in_flight * QUEUED_PER_REQUEST)
        self._requests = asyncio.Semaphore(settings.max_in_flight)
        self._retry_topics = topics.retry_topics(settings)
        self.gate = EndpointGate(
            settings.endpoint_concurrency, settings.breaker_failures, settings.breaker_cooldown_s
        )
        self.tenants = TenantGate(settings.tenant_in_flight)
        # The bulk lane (hookline.core.lanes) reads ahead within a budget of its own.
        self.bulk = BulkReadAhead(topics.deliveries_bulk(settings), settings.bulk_read_ahead)
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.http: aiohttp.ClientSession | None = None
        self.order = OrderGate(settings)  # version order per object (docs/ordering.md)
        metrics.watch_circuits(lambda: len(self.gate.open_circuits()))

    async def start(self) -> None:
        group = f"{self.settings.topic_prefix}-{GROUP}"
        await kafka.ensure_topics(self.settings)
        await kafka_access.check(self.settings, "deliverer", groups=[group])
        await self.feed.start()
        await self.catalog.start()
        await self.order.start()
        # A delivery's attempt record is not on the way to the receiver: lingering 5 ms
        # lets the records of deliveries answered close together share a request.
        self.producer = kafka.producer(self.settings, linger_ms=ATTEMPT_LINGER_MS)
        await self.producer.start()
        self.http = transport.session(
            resolver(self.settings.allow_private_targets), self.settings.max_in_flight
        )
        # read_committed: never a retry whose transaction the retry scheduler aborted.
        self.consumer = kafka.consumer(
            self.settings,
            group=group,
            isolation_level="read_committed",
        )
        lanes = [topics.deliveries(self.settings), topics.deliveries_bulk(self.settings)]
        self.consumer.subscribe(lanes, listener=_Rebalance(self))
        await self.consumer.start()

    async def stop(self) -> None:
        await self.drain()
        for closer in (self.consumer, self.producer):
            if closer is not None:
                await _bounded(closer.stop(), CLOSE_TIMEOUT_S, f"stopping {type(closer).__name__}")
        if self.http is not None:
            await self.http.close()
        await self.order.stop()
        await self.feed.stop()
        await self.catalog.stop()

    async def run(self, stopping: asyncio.Event) -> None:
        assert self.consumer is not None
        self._stopping = stopping
        committer = asyncio.create_task(self._commit_every(0.5))
        try:
            while not stopping.is_set():
                batches = await self.consumer.getmany(timeout_ms=200, max_records=500)
                for tp, records in batches.items():
                    await self._start_all(tp, records)
            if self.fatal is not None:
                raise self.fatal
        finally:
            committer.cancel()
            await asyncio.gather(committer, return_exceptions=True)

    async def _start_all(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        assert self.consumer is not None
        for rec in records:
            if not self.bulk.take(self.consumer, tp, rec.offset):
                return  # the bulk lane's budget is used up: read again later (lanes.py)
            await self._slots.acquire()
            if self._stopping.is_set():  # read, not started: not committed, read again
                self._slots.release()
                self.bulk.finished(None, tp)
                return
            self.tracker.started(tp, rec.offset)
            task = asyncio.create_task(self._handle(tp, rec))
            self._tasks[task] = tp
            task.add_done_callback(self._forget_task)

    def _forget_task(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    async def drain(self) -> None:
        await self.release(None)

    async def release(self, partitions: Iterable[TopicPartition] | None) -> None:
        """Let the deliveries in flight on ``partitions`` (None: all) finish, for at most
        ``finish_wait_s``; cancel the rest (left unfinished: redone by the next owner),
        then commit what may be, within ``COMMIT_TIMEOUT_S``."""
        wanted = None if partitions is None else set(partitions)
        tasks = [t for t, tp in self._tasks.items() if wanted is None or tp in wanted]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=finish_wait_s(self.settings))
            for task in late:
                task.cancel()
            if late:
                log.warning("left %d deliveries unfinished, to be done again", len(late))
                await asyncio.wait(late, timeout=CLOSE_TIMEOUT_S)
        await _bounded(self.commit(), COMMIT_TIMEOUT_S, "committing")

    async def commit(self) -> None:
        offsets = self.tracker.committable()
        if offsets and self.consumer is not None:
            owned = self.consumer.assignment()
            mine = {tp: off for tp, off in offsets.items() if tp in owned}
            if mine:
                await self.consumer.commit(mine)
                self.tracker.committed(mine)

    async def _commit_every(self, seconds: float) -> None:
        await every(seconds, self.commit, what="commit", survive=(KafkaError,), wait_first=True)

    async def _handle(self, tp: TopicPartition, rec: ConsumerRecord) -> None:
        """Finish ``rec``'s offset only once it is done, handed on or quarantined."""
        try:
            await self._settle(tp, rec)
        except Stopped:
            log.info("a delivery left unfinished (stopping): it will be done again")
            return
        except asyncio.CancelledError:  # a revoke or a stop that could not wait longer
            log.info("a delivery left unfinished (cancelled): it will be done again")
            raise
        except BaseException as exc:  # fatal: the process must go, its supervisor restarts it
            log.exception("the deliverer cannot go on")
            self.fatal = exc
            self._stopping.set()
            return
        finally:
            self._slots.release()
            self.bulk.finished(self.consumer, tp)
        self.tracker.finished(tp, rec.offset)

    async def _settle(self, tp: TopicPartition, rec: ConsumerRecord) -> None:
        """Infrastructure failures are retried until they pass or the deliverer stops;
        any other exception is this message's, and it is quarantined."""
        try:
            await self._retrying(lambda: self.attempt(rec.value), "a delivery")
        except Exception as exc:
            if classify_failure(exc) is not Failure.POISON:
                raise
            await self._quarantine(tp, rec, reason_of(exc))

    async def _quarantine(self, tp: TopicPartition, rec: ConsumerRecord, reason: str) -> None:
        assert self.producer is not None
        producer = self.producer

        async def send() -> None:
            await send_to_quarantine(
                producer,
                self.settings,
                service=GROUP,
                topic=tp.topic,
                partition=tp.partition,
                offset=rec.offset,
                key=rec.key,
                value=rec.value,
                reason=reason,
                headers=rec.headers or (),
            )

        await self._retrying(send, "quarantining a delivery")

    async def _retrying(self, op: Callable[[], Awaitable[T]], what: str) -> T:
        return await retry_infra(op, what=what, stopping=self._stopping)

    async def attempt(self, raw: bytes | None) -> None:
        """One message of ``hookline.deliveries``, from the subscription lookup to the
        hand-off; raises ``MessageError`` for one that is not a delivery."""
        if raw is None:
            raise MessageError("Delivery: a message without a value")
        delivery = Delivery.decode(raw)
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

    async def _deliver(self, sealed: SubscriptionRecord, delivery: Delivery) -> None:
        assert self.http is not None
        now = time.time()
        sub = self.opener.open(sealed)
        if isinstance(sub, str):
            # A key this deliverer lacks: a failed try like a target's error (sent, for
            # the classification), so the retries give the operator time to add it.
            await self._record(delivery, transport.Answer(None, 0.0, error=sub))
            return
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
            answer = await self._in_tenant_turn(delivery, req, ticket)
        finally:
            ticket.release()
        if answer is not None:
            await self._record(delivery, answer)

    async def _in_tenant_turn(
        self, delivery: Delivery, req: request.Request, ticket: Ticket
    ) -> transport.Answer | None:
        """The request, within its tenant's share of the requests (``tenants.py``), taken
        once its endpoint has a turn for it; None when the tenant's share put it off."""
        assert self.http is not None
        turn = await self.tenants.admit(delivery.tenant)
        if turn is None:
            # About when the tenant's requests now out end, at the latest: their timeout.
            wait_s = self.settings.delivery_timeout_s
            await self._defer(delivery, Ticket(Admission.DEFER, wait_s, TENANT_PUT_OFF))
            return None
        try:
            async with self._requests:
                answer = await transport.send(self.http, req, self.settings.delivery_timeout_s)
            down = shows_endpoint_down(answer.status, answer.sent)
            ticket.record(down=down, answered=answer.status is not None)
            if answer.status is not None:
                turn.answered()
        finally:
            turn.release()
        return answer

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
        messages = [(topics.attempts(self.settings), attempt.key(), attempt.encode())]
        stop = plan.after_attempt(delivery, verdict, now, self.settings.retry_delays)
        if stop is not None:
            topic = self._topic_of(stop)
            if stop.delay_index is None:
                metrics.dead_lettered()
            else:
                metrics.retry_scheduled(self.settings.retry_delays[stop.delay_index])
            messages.append((topic, stop.delivery.key(), stop.delivery.encode()))
            log.info(
                "delivery failed (%s); next stop %s",
                verdict.reason,
                topic,
                extra={"ctx": _ids(delivery)},
            )
        await self._hand_off(messages)

    async def _defer(self, delivery: Delivery, ticket: Ticket) -> None:
        """Put off without a request (circuit open, endpoint stuck): no retry used up."""
        metrics.delivery_skipped("deferred")
        stop = plan.deferral(delivery, ticket.wait_s, time.time(), self.settings.retry_delays)
        await self._hand_off([(self._topic_of(stop), delivery.key(), stop.delivery.encode())])
        log.debug("delivery put off: %s", ticket.reason, extra={"ctx": _ids(delivery)})

    async def _hand_off(self, messages: list[tuple[str, bytes, bytes]]) -> None:
        """Send ``messages`` and wait for the broker's acknowledgements; while Kafka is
        down, this alone is tried again (the request is not made twice for it)."""
        assert self.producer is not None
        producer = self.producer

        async def send_all() -> None:
            acks = [await producer.send(topic, value, key=key) for topic, key, value in messages]
            if len(acks) == 1:  # the common case, without gather's future and callbacks
                await acks[0]
            else:
                await asyncio.gather(*acks)

        await self._retrying(send_all, "handing a delivery on")

    def _topic_of(self, stop: plan.Stop) -> str:
        if stop.delay_index is None:
            return topics.dead_letters(self.settings)
        return self._retry_topics[stop.delay_index]


async def _bounded(step: Awaitable[object], seconds: float, what: str) -> None:
    """``step`` for at most ``seconds``; a failure or a timeout is logged, not raised
    (what it would have done is redone after the restart: at least once)."""
    try:
        await asyncio.wait_for(step, seconds)
    except (TimeoutError, KafkaError, OSError) as exc:
        log.warning("%s did not complete (%s); going on", what, reason_of(exc, 200))


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
    and commit, so the new owner redoes as little as possible. Bounded (``release``)
    while Kafka or PostgreSQL is down: what cannot finish is cancelled and left to the
    new owner, and the rebalance completes."""

    def __init__(self, deliverer: Deliverer) -> None:
        self._deliverer = deliverer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._deliverer.release(revoked)
        for tp in revoked:
            self._deliverer.tracker.forget(tp)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        return None
