"""Hold each partition of the delay topics until its head is due.

A delay topic holds deliveries that all wait the same delay, so within a partition
they fall due in order. The scheduler reads a partition, sends every due message
back to ``hookline.deliveries`` and, at the first message that is not due yet,
seeks back to it and pauses the partition until it is (no busy loop; other
partitions go on).

Each delivery goes back to its lane (``hookline.core.lanes``): the main lane while its
tenant's share lasts (``HOOKLINE_TENANT_BURST`` / ``HOOKLINE_TENANT_RATE``, as in the
router), else the bulk lane, so a tenant whose large fan-out fails does not bring it
all back in front of the other tenants' deliveries.

Not lost, and not copied by a crash: the re-sent messages and the new offset of
the delay topic's partition are written in one Kafka transaction, so after a crash
at any moment either both happened or neither did. Deliverers read
``hookline.deliveries`` with ``read_committed`` and never see the messages of a
transaction that did not commit; a dead process's open transaction is aborted by
the broker after ``TRANSACTION_TIMEOUT_MS`` (at once by a successor with the same
transactional id, which is stable per host).

At least once across rebalances: when a partition moves to another scheduler while
its previous owner is still alive (a rebalance, a paused or partitioned pod), the
old owner's transaction in flight may still commit after the new owner read the
partition from the last committed offset, and those retries are put back twice
(same ``webhook-id``, so receivers drop the copy). Stable transactional ids per pod
(a StatefulSet) would not close this: they fence a restarted process, not a live
one that lost its partitions. What would is Kafka's group-generation fencing of
``sendOffsetsToTransaction`` (KIP-447), which aiokafka does not implement, or one
transactional producer per input partition (a producer for each partition of each
delay topic); docs/delivery.md says why Hookline does neither.

Failures follow ``hookline.core.failure``. A delayed delivery that cannot be
decoded is quarantined in the same transaction that moves the partition past it
(so it is neither dropped nor re-read). A broker failure aborts the transaction;
the run is read again after a bounded backoff that a stop interrupts. An
unforeseen exception for a run is retried record by record, and the record that
fails alone is quarantined. A fenced producer stops the process.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from hookline.core import kafka, kafka_access, metrics, topics
from hookline.core.config import Settings
from hookline.core.failure import BACKOFF, Failure, Stopped, classify, reason_of
from hookline.core.lanes import FanoutBudget
from hookline.core.messages import Delivery, MessageError
from hookline.core.quarantine import quarantine_record

log = logging.getLogger(__name__)

GROUP = "retry-scheduler"
# An open transaction holds back read_committed readers of the partitions it wrote to;
# if its process dies and no successor with the same id aborts it, the broker does.
TRANSACTION_TIMEOUT_MS = 10_000


def transactional_id(settings: Settings) -> str:
    """Stable across restarts on one host, so a restart there fences the previous
    process; a pod with a new name relies on the broker's transaction timeout."""
    return f"{settings.topic_prefix}-{GROUP}-{socket.gethostname()}"


@dataclass(frozen=True)
class Split:
    """What to do with a fetched run of one partition: send ``due`` and quarantine
    ``poison`` (offset and reason), then either carry on or hold at ``hold_offset``
    until ``hold_until``."""

    due: list[tuple[int, bytes]]
    hold_offset: int | None = None
    hold_until: float = 0.0
    poison: tuple[tuple[int, str], ...] = ()


def split_due(records: Sequence[tuple[int, bytes | None]], now: float) -> Split:
    """Pure: the due prefix of a partition's records, the undecodable ones in it, and
    where to stop."""
    due: list[tuple[int, bytes]] = []
    poison: list[tuple[int, str]] = []
    for offset, raw in records:
        if raw is None:
            continue
        try:
            due_at = Delivery.decode(raw).due_at
        except MessageError as exc:
            poison.append((offset, reason_of(exc)))
            continue
        if due_at > now:
            return Split(due, offset, due_at, tuple(poison))
        due.append((offset, raw))
    return Split(due, poison=tuple(poison))


class RetryScheduler:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.group = f"{settings.topic_prefix}-{GROUP}"
        self._held: dict[TopicPartition, asyncio.TimerHandle] = {}
        self._budget = FanoutBudget(settings.tenant_burst, settings.tenant_rate)
        self._lanes = (topics.deliveries(settings), topics.deliveries_bulk(settings))
        self._stopping = asyncio.Event()
        self._failures = 0  # infrastructure failures in a row, for the backoff
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        await kafka.ensure_topics(self.settings)
        await kafka_access.check(
            self.settings,
            "retry-scheduler",
            groups=[self.group],
            transactional_ids=[transactional_id(self.settings)],
        )
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
        self._stopping = stopping
        while not stopping.is_set():
            batches = await self.consumer.getmany(timeout_ms=500, max_records=1000)
            for tp, records in batches.items():
                if tp in self._held:
                    # Fetched before the pause took effect: read them again on resume.
                    self.consumer.seek(tp, records[0].offset)
                    continue
                try:
                    await self._step_safely(tp, records)
                except Stopped:
                    return

    async def _step_safely(self, tp: TopicPartition, rows: list[ConsumerRecord]) -> None:
        try:
            await self._step(tp, rows)
            self._failures = 0
        except Exception as exc:
            verdict = classify(exc)
            if verdict is Failure.FATAL:
                raise  # e.g. fenced: another process took this scheduler's place
            if verdict is Failure.POISON and len(rows) > 1:
                await self._one_by_one(tp, rows)
            elif verdict is Failure.POISON:
                await self._quarantine_alone(tp, rows[0], reason_of(exc))
            else:
                await self._read_again(tp, rows, exc)

    async def _read_again(
        self, tp: TopicPartition, rows: list[ConsumerRecord], exc: Exception
    ) -> None:
        """The transaction was aborted: read the run again after a pause."""
        assert self.consumer is not None
        pause = BACKOFF.delay(self._failures)
        self._failures += 1
        log.warning("re-sending due deliveries failed (%s); again in %.1f s", exc, pause)
        if tp in self.consumer.assignment():
            self.consumer.seek(tp, rows[0].offset)
        try:
            await asyncio.wait_for(self._stopping.wait(), pause)
        except TimeoutError:
            return
        raise Stopped("stopped while the broker was failing") from exc

    async def _one_by_one(self, tp: TopicPartition, rows: list[ConsumerRecord]) -> None:
        """A run failed for no reason of the broker: find the record, one at a time."""
        for row in rows:
            await self._step_safely(tp, [row])
            if tp in self._held or self.consumer is None or tp not in self.consumer.assignment():
                return

    async def _step(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        assert self.consumer is not None and self.producer is not None
        split = split_due([(r.offset, r.value) for r in records], time.time())
        done = split.hold_offset if split.hold_offset is not None else records[-1].offset + 1
        if done > records[0].offset:
            by_offset = {r.offset: r for r in records}
            async with self.producer.transaction():
                for offset, reason in split.poison:
                    await self._send_to_quarantine(by_offset[offset], reason)
                for _, raw in split.due:
                    delivery = Delivery.decode(raw)
                    await self.producer.send(self._lane(delivery), raw, key=delivery.key())
                await self.producer.send_offsets_to_transaction({tp: done}, self.group)
            metrics.retries_released(tp.topic, len(split.due))
        if split.hold_offset is not None:
            self.consumer.seek(tp, split.hold_offset)
            self._hold(tp, split.hold_until)

    def _lane(self, delivery: Delivery) -> str:
        main, bulk = self._lanes
        return main if self._budget.take(delivery.tenant, 1, time.monotonic()) else bulk

    async def _quarantine_alone(self, tp: TopicPartition, row: ConsumerRecord, reason: str) -> None:
        """Quarantine one record and move past it, in one transaction."""
        assert self.producer is not None
        async with self.producer.transaction():
            await self._send_to_quarantine(row, reason)
            await self.producer.send_offsets_to_transaction({tp: row.offset + 1}, self.group)

    async def _send_to_quarantine(self, row: ConsumerRecord, reason: str) -> None:
        assert self.producer is not None
        await quarantine_record(
            self.producer, self.settings, service="retry-scheduler", record=row, reason=reason
        )

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
