"""Hold each partition of the delay topics until its head is due.

A delay topic holds deliveries that all wait the same delay, so within a partition
they fall due in order. The scheduler reads a partition, sends every due message
back to ``hookline.deliveries`` and, at the first message that is not due yet,
seeks back to it and pauses the partition until it is (no busy loop; other
partitions go on). Offsets are committed only after the re-sent messages are
acknowledged, so a restart neither loses nor skips one; it may send one twice,
which the receiver sees as the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from hookline.core import kafka, topics
from hookline.core.config import Settings
from hookline.core.messages import Delivery, MessageError

log = logging.getLogger(__name__)

GROUP = "retry-scheduler"


@dataclass(frozen=True)
class Split:
    """What to do with a fetched run of one partition: send ``due``, then either
    carry on or hold at ``hold_offset`` until ``hold_until``."""

    due: list[tuple[int, bytes]]
    hold_offset: int | None = None
    hold_until: float = 0.0


def split_due(records: Sequence[tuple[int, bytes | None]], now: float) -> Split:
    """Pure: the due prefix of a partition's records, and where to stop."""
    due: list[tuple[int, bytes]] = []
    for offset, raw in records:
        if raw is None:
            continue
        try:
            due_at = float(Delivery.decode(raw).due_at)
        except (MessageError, TypeError, ValueError):
            log.exception("dropping an undecodable delayed delivery at offset %s", offset)
            continue
        if due_at > now:
            return Split(due, offset, due_at)
        due.append((offset, raw))
    return Split(due)


class RetryScheduler:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._held: dict[TopicPartition, asyncio.TimerHandle] = {}
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        await kafka.ensure_topics(self.settings)
        self.producer = kafka.producer(self.settings)
        await self.producer.start()
        self.consumer = kafka.consumer(self.settings, group=f"{self.settings.topic_prefix}-{GROUP}")
        self.consumer.subscribe(topics.retry_topics(self.settings))
        await self.consumer.start()

    async def stop(self) -> None:
        for handle in self._held.values():
            handle.cancel()
        for client in (self.consumer, self.producer):
            if client is not None:
                await client.stop()

    async def run(self, stopping: asyncio.Event) -> None:
        assert self.consumer is not None
        while not stopping.is_set():
            batches = await self.consumer.getmany(timeout_ms=500, max_records=1000)
            for tp, records in batches.items():
                if tp in self._held:
                    continue  # fetched before the pause took effect; read again on resume
                await self._step(tp, [(r.offset, r.value) for r in records])

    async def _step(self, tp: TopicPartition, records: list[tuple[int, bytes | None]]) -> None:
        assert self.consumer is not None and self.producer is not None
        split = split_due(records, time.time())
        target = topics.deliveries(self.settings)
        sent = [await self.producer.send(target, raw, key=_key(raw)) for _, raw in split.due]
        await asyncio.gather(*sent)
        done = split.hold_offset if split.hold_offset is not None else records[-1][0] + 1
        if done > records[0][0]:
            await self._commit(tp, done)
        if split.hold_offset is not None:
            self.consumer.seek(tp, split.hold_offset)
            self._hold(tp, split.hold_until)

    async def _commit(self, tp: TopicPartition, offset: int) -> None:
        assert self.consumer is not None
        while True:
            try:
                await self.consumer.commit({tp: offset})
                return
            except KafkaError:
                log.warning("commit failed; trying again", exc_info=True)
                await asyncio.sleep(1.0)

    def _hold(self, tp: TopicPartition, until: float) -> None:
        assert self.consumer is not None
        self.consumer.pause(tp)
        loop = asyncio.get_running_loop()
        self._held[tp] = loop.call_later(max(0.0, until - time.time()), self._release, tp)

    def _release(self, tp: TopicPartition) -> None:
        self._held.pop(tp, None)
        if self.consumer is not None and tp in self.consumer.assignment():
            self.consumer.resume(tp)


def _key(raw: bytes) -> bytes:
    return Delivery.decode(raw).key()
