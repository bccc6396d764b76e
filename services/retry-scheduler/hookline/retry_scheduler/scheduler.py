"""Hold each partition of the delay topics until its head is due.

A delay topic holds deliveries that all wait the same delay, so within a partition
they fall due in order. The scheduler reads a partition, sends every due message
back to ``hookline.deliveries`` and, at the first message that is not due yet,
seeks back to it and pauses the partition until it is (no busy loop; other
partitions go on).

Neither lost nor copied: the re-sent messages and the new offset of the delay
topic's partition are written in one Kafka transaction, so after a crash at any
moment either both happened or neither did. Deliverers read
``hookline.deliveries`` with ``read_committed`` and never see the messages of a
transaction that did not commit. The transactional id is stable per host, so a
restarted scheduler aborts what its previous process left open at once.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced

from hookline.core import kafka, metrics, topics
from hookline.core.config import Settings
from hookline.core.messages import Delivery, MessageError

log = logging.getLogger(__name__)

GROUP = "retry-scheduler"
# An open transaction holds back read_committed readers of the partitions it wrote to;
# if its process dies and no successor with the same id aborts it, the broker does.
TRANSACTION_TIMEOUT_MS = 10_000


def transactional_id(settings: Settings) -> str:
    """Stable across restarts on one host, so a restart fences the previous process."""
    return f"{settings.topic_prefix}-{GROUP}-{socket.gethostname()}"


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
        self.group = f"{settings.topic_prefix}-{GROUP}"
        self._held: dict[TopicPartition, asyncio.TimerHandle] = {}
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        await kafka.ensure_topics(self.settings)
        self.producer = kafka.producer(
            self.settings,
            transactional_id=transactional_id(self.settings),
            transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
        )
        await self.producer.start()
        self.consumer = kafka.consumer(
            self.settings, group=self.group, isolation_level="read_committed"
        )
        self.consumer.subscribe(topics.retry_topics(self.settings), listener=_Rebalance(self))
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
                rows = [(r.offset, r.value) for r in records]
                if tp in self._held:
                    # Fetched before the pause took effect: read them again on resume.
                    self.consumer.seek(tp, rows[0][0])
                    continue
                await self._step_safely(tp, rows)

    async def _step_safely(self, tp: TopicPartition, rows: list[tuple[int, bytes | None]]) -> None:
        assert self.consumer is not None
        try:
            await self._step(tp, rows)
        except ProducerFenced:
            raise  # another process took this scheduler's place: this one must stop
        except KafkaError:
            log.exception("re-sending due deliveries failed; reading them again")
            if tp in self.consumer.assignment():
                self.consumer.seek(tp, rows[0][0])  # the transaction was aborted
            await asyncio.sleep(1.0)

    async def _step(self, tp: TopicPartition, records: list[tuple[int, bytes | None]]) -> None:
        assert self.consumer is not None and self.producer is not None
        split = split_due(records, time.time())
        done = split.hold_offset if split.hold_offset is not None else records[-1][0] + 1
        if done > records[0][0]:
            target = topics.deliveries(self.settings)
            async with self.producer.transaction():
                for _, raw in split.due:
                    await self.producer.send(target, raw, key=_key(raw))
                await self.producer.send_offsets_to_transaction({tp: done}, self.group)
            metrics.retries_released(tp.topic, len(split.due))
        if split.hold_offset is not None:
            self.consumer.seek(tp, split.hold_offset)
            self._hold(tp, split.hold_until)

    def _hold(self, tp: TopicPartition, until: float) -> None:
        assert self.consumer is not None
        self.consumer.pause(tp)
        loop = asyncio.get_running_loop()
        self._held[tp] = loop.call_later(max(0.0, until - time.time()), self._release, tp)

    def _release(self, tp: TopicPartition) -> None:
        self._held.pop(tp, None)
        if self.consumer is not None and tp in self.consumer.assignment():
            self.consumer.resume(tp)

    def forget(self, partitions: list[TopicPartition]) -> None:
        """Partitions taken away in a rebalance: if they come back, they start afresh."""
        for tp in partitions:
            handle = self._held.pop(tp, None)
            if handle is not None:
                handle.cancel()


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, scheduler: RetryScheduler) -> None:
        self._scheduler = scheduler

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._scheduler.forget(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        return None


def _key(raw: bytes) -> bytes:
    return Delivery.decode(raw).key()
