"""The deliverer's loop: many deliveries at once, offsets committed only behind them.

For each message on ``hookline.deliveries`` (in a consumer group, so deliverers
scale out), ``attempt`` looks the subscription up as it is now, signs and POSTs
the body, classifies the answer, records the attempt, and on failure puts the
delivery on the delay topic for its next try (or the dead letters after the
last). Only when that hand-off is acknowledged (``acks=all``) does the message
count as finished; ``OffsetTracker`` commits each partition up to its lowest
unfinished message, so a deliverer killed at any moment loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from hookline.core import kafka, topics
from hookline.core.config import Settings
from hookline.core.feed import SubscriptionFeed
from hookline.core.messages import Attempt, Delivery, MessageError, SubscriptionRecord
from hookline.core.retry import Classification, Outcome, classify, delay_topic_index, next_delay
from hookline.core.ssrf import TargetNotAllowed
from hookline.core.subscriptions import ACTIVE, SubscriptionTable
from hookline.deliverer import request
from hookline.deliverer.offsets import OffsetTracker
from hookline.deliverer.resolver import resolver

log = logging.getLogger(__name__)

GROUP = "deliverer"
BODY_KEPT = 4096


class Deliverer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.table = SubscriptionTable()
        self.feed = SubscriptionFeed(settings, self.table)
        self.tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        self._retry_topics = topics.retry_topics(settings)
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        await kafka.ensure_topics(self.settings)
        await self.feed.start()
        self.producer = kafka.producer(self.settings)
        await self.producer.start()
        connector = aiohttp.TCPConnector(
            limit=self.settings.max_in_flight,
            limit_per_host=64,
            resolver=resolver(self.settings.allow_private_targets),
            keepalive_timeout=30,
        )
        self.http = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        self.consumer = kafka.consumer(self.settings, group=f"{self.settings.topic_prefix}-{GROUP}")
        self.consumer.subscribe([topics.deliveries(self.settings)], listener=_Rebalance(self))
        await self.consumer.start()

    async def stop(self) -> None:
        await self.drain()
        for closer in (self.consumer, self.producer):
            if closer is not None:
                await closer.stop()
        if self.http is not None:
            await self.http.close()
        await self.feed.stop()

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
        if raw is None:
            return
        try:
            delivery = Delivery.decode(raw)
        except MessageError:
            log.exception("skipping an undecodable delivery")
            return
        sub = await self._subscription(delivery.subscription_id)
        if sub is None or sub.status != ACTIVE:
            log.info(
                "dropping a delivery: subscription %s is gone or disabled",
                delivery.subscription_id,
                extra={"ctx": _ids(delivery)},
            )
            return
        status, body, retry_after, error, latency_ms = await self._post(sub, delivery)
        verdict = classify(
            status,
            error=error,
            retry_after=retry_after,
            now=time.time(),
            max_retry_after_s=self.settings.max_retry_after_s,
        )
        await self._hand_off(delivery, verdict, status, body, latency_ms)

    async def _subscription(self, subscription_id: int) -> SubscriptionRecord | None:
        sub = self.table.get(subscription_id)
        if sub is None:
            # Created a moment ago and not read yet? Catch up once before giving up.
            with contextlib.suppress(TimeoutError):
                await self.feed.wait_caught_up(timeout_s=10)
            sub = self.table.get(subscription_id)
        return sub

    async def _post(
        self, sub: SubscriptionRecord, delivery: Delivery
    ) -> tuple[int | None, str | None, str | None, str | None, float]:
        assert self.http is not None
        req = request.build(
            sub, delivery, request.body_of(delivery), int(time.time()), [sub.secret]
        )
        timeout = aiohttp.ClientTimeout(total=self.settings.delivery_timeout_s)
        started = time.monotonic()
        try:
            async with self.http.post(
                req.url, data=req.body, headers=req.headers, allow_redirects=False, timeout=timeout
            ) as rsp:
                kept = await rsp.content.read(BODY_KEPT)
                latency = (time.monotonic() - started) * 1000
                text = kept.decode("utf-8", "replace")
                return rsp.status, text, rsp.headers.get("Retry-After"), None, latency
        except TimeoutError:
            error = f"timeout after {self.settings.delivery_timeout_s:g}s"
        except TargetNotAllowed as exc:
            error = f"target not allowed: {exc}"
        except (aiohttp.ClientError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        return None, None, None, error, (time.monotonic() - started) * 1000

    async def _hand_off(
        self,
        delivery: Delivery,
        verdict: Classification,
        status: int | None,
        body: str | None,
        latency_ms: float,
    ) -> None:
        assert self.producer is not None
        number = delivery.attempt + 1
        attempt = Attempt(
            delivery_id=delivery.delivery_id,
            subscription_id=delivery.subscription_id,
            tenant=delivery.tenant,
            event=delivery.event,
            event_id=delivery.event_id,
            attempt=number,
            at=time.time(),
            outcome=verdict.outcome.name,
            reason=verdict.reason,
            status=status,
            latency_ms=round(latency_ms, 2),
            response_body=body,
        )
        sends = [
            await self.producer.send(
                topics.attempts(self.settings), attempt.encode(), key=attempt.key()
            )
        ]
        if verdict.outcome is not Outcome.SUCCESS:
            topic, later = self._next_stop(delivery, verdict, number)
            sends.append(await self.producer.send(topic, later.encode(), key=later.key()))
            log.info(
                "delivery failed (%s); next stop %s",
                verdict.reason,
                topic,
                extra={"ctx": _ids(delivery)},
            )
        await asyncio.gather(*sends)

    def _next_stop(
        self, delivery: Delivery, verdict: Classification, number: int
    ) -> tuple[str, Delivery]:
        delay = None
        if verdict.outcome is Outcome.RETRY:
            delay = next_delay(number, self.settings.retry_delays, verdict.retry_after_s)
        if delay is None:
            later = replace(delivery, attempt=number, last_error=verdict.reason)
            return topics.dead_letters(self.settings), later
        index = delay_topic_index(delay, self.settings.retry_delays)
        later = replace(
            delivery, attempt=number, due_at=time.time() + delay, last_error=verdict.reason
        )
        return self._retry_topics[index], later


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
