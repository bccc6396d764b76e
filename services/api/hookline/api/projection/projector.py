"""Project ``hookline.subscriptions`` into PostgreSQL's ``subscriptions`` table.

The topic is the log of record. The projector reads it outside any consumer
group and keeps its position per partition in ``projector_offsets``, written in
the same transaction as the rows, so a crash never skips or half-applies a
batch. It applies the one fold every reader uses (``UPSERT`` only replaces an
older version). ``rebuild`` replaces the read model with the fold of the whole topic.
"""

from __future__ import annotations

import logging

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from hookline.api.projection.topic_projector import Record, TopicProjector
from hookline.api.store import UPSERT, upsert_args
from hookline.core import db, topics
from hookline.core.config import Settings
from hookline.core.kafka import assign_all, consumer, lagging
from hookline.core.messages import MessageError, SubscriptionRecord
from hookline.core.quarantine import Producer
from hookline.core.subscriptions import is_newer

log = logging.getLogger(__name__)


async def _fold_batch(conn: db.Connection, records: list[Record]) -> None:
    # A record that cannot be decoded or written raises: the projector quarantines it.
    rows = [upsert_args(SubscriptionRecord.decode(rec.value)) for rec in records]
    await conn.executemany(UPSERT, rows)


def projector(settings: Settings, pool: asyncpg.Pool, producer: Producer) -> TopicProjector:
    """The subscriptions projector: a ``TopicProjector`` whose batches are folded by version."""
    topic = topics.subscriptions(settings)
    return TopicProjector(
        settings, pool, topic, _fold_batch, "subscriptions-projector", quarantine=producer
    )


async def rebuild(settings: Settings, pool: asyncpg.Pool) -> int:
    """Drop the subscriptions read model and project the whole topic again, atomically.

    The topic is read once without a lock, then the table is locked (``EXCLUSIVE``:
    readers go on reading the old model, writers wait) and the rest read up to the
    end, so no write can slip between the records read and the rows replaced. The
    new rows and the offsets replace the old in one transaction. Returns how many
    records were read.
    """
    topic = topics.subscriptions(settings)
    reader = _Reader(settings, topic)
    await reader.start()
    try:
        await reader.read_to_end()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("LOCK TABLE subscriptions IN EXCLUSIVE MODE")
            ends = await reader.read_to_end()
            await conn.execute("DELETE FROM subscriptions")
            await conn.executemany(UPSERT, [upsert_args(r) for r in reader.latest.values()])
            await conn.execute("DELETE FROM projector_offsets WHERE topic = $1", topic)
            await conn.executemany(
                "INSERT INTO projector_offsets (topic, partition, next_offset) VALUES ($1, $2, $3)",
                [(topic, tp.partition, end) for tp, end in ends.items()],
            )
        return reader.read
    finally:
        await reader.stop()


class _Reader:
    """Reads the subscriptions topic from the beginning and folds it by version."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self._topic = topic
        self._consumer: AIOKafkaConsumer = consumer(settings, group=None)
        self.latest: dict[int, SubscriptionRecord] = {}
        self.read = 0

    async def start(self) -> None:
        await self._consumer.start()
        for tp in await assign_all(self._consumer, self._topic):
            await self._consumer.seek_to_beginning(tp)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def read_to_end(self) -> dict[TopicPartition, int]:
        ends: dict[TopicPartition, int] = await self._consumer.end_offsets(
            list(self._consumer.assignment())
        )
        while await lagging(self._consumer, ends):
            batches = await self._consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                self.read += len(records)
                for rec in records:
                    self._fold(rec.value)
        return ends

    def _fold(self, raw: bytes | None) -> None:
        if raw is None:
            return
        try:
            record = SubscriptionRecord.decode(raw)
        except MessageError:
            log.exception("skipping an undecodable subscription record")
            return
        if is_newer(self.latest.get(record.id), record):
            self.latest[record.id] = record
