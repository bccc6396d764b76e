"""Follow one topic into PostgreSQL in batches, its position kept with the rows.

Used for ``hookline.subscriptions`` (folded by version), ``hookline.attempts`` and
``hookline.dead-letters``. It reads outside any consumer group and stores its next offset per
partition in ``projector_offsets``, in the same transaction as the rows, so a
crash neither skips nor doubles a batch. Attempts and dead letters are appended,
not folded by version, so applying a record twice would double it:
each batch locks its partitions' offset rows and applies only the records at or
past the stored offsets. Two API processes can then both run the projector; the
one that is behind finds its records already applied and skips them.

A batch that fails (database or broker down) is rolled back and read again from
the stored offsets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from hookline.api.errors import ApiError
from hookline.core.config import Settings
from hookline.core.kafka import KafkaUnavailable, assign_all, consumer, lagging

log = logging.getLogger(__name__)

BATCH = 2000


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    timestamp_ms: int
    value: bytes


Apply = Callable[[asyncpg.Connection, list[Record]], Awaitable[None]]
"""Writes one batch's rows on ``conn``, inside the batch's transaction."""

_LOCK = """
INSERT INTO projector_offsets (topic, partition, next_offset)
SELECT $1, p, 0 FROM unnest($2::integer[]) AS p
ON CONFLICT (topic, partition) DO NOTHING
"""
_STORED = (
    "SELECT partition, next_offset FROM projector_offsets"
    " WHERE topic = $1 AND partition = ANY($2::integer[]) ORDER BY partition FOR UPDATE"
)
_SAVE = (
    "UPDATE projector_offsets SET next_offset = GREATEST(next_offset, $3)"
    " WHERE topic = $1 AND partition = $2"
)


class TopicProjector:
    def __init__(
        self, settings: Settings, pool: asyncpg.Pool, topic: str, apply: Apply, name: str
    ) -> None:
        self._pool = pool
        self._topic = topic
        self._apply = apply
        self._name = name
        self._consumer: AIOKafkaConsumer = consumer(settings, group=None)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        await assign_all(self._consumer, self._topic)
        await self._rewind()

    def run_in_background(self) -> None:
        self._task = asyncio.create_task(self._follow(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    async def catch_up(self) -> int:
        """Apply everything on the topic now; returns how many records were applied."""
        ends = await self._consumer.end_offsets(list(self._consumer.assignment()))
        applied = 0
        while await lagging(self._consumer, ends):
            applied += await self.step()
        return applied

    async def step(self) -> int:
        """Read one batch and apply it; returns how many records were applied."""
        batches = await self._consumer.getmany(timeout_ms=500, max_records=BATCH)
        records = [
            Record(tp.partition, rec.offset, rec.timestamp, rec.value)
            for tp, recs in batches.items()
            for rec in recs
            if rec.value is not None
        ]
        ends = {tp.partition: recs[-1].offset + 1 for tp, recs in batches.items() if recs}
        if not ends:
            return 0
        partitions = sorted(ends)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK, self._topic, partitions)
            stored = {
                r["partition"]: r["next_offset"]
                for r in await conn.fetch(_STORED, self._topic, partitions)
            }
            fresh = [r for r in records if r.offset >= stored.get(r.partition, 0)]
            if fresh:
                await self._apply(conn, fresh)
            await conn.executemany(_SAVE, [(self._topic, p, end) for p, end in ends.items()])
        return len(fresh)

    async def _follow(self) -> None:
        rewind = False
        while True:
            try:
                if rewind:
                    await self._rewind()
                    rewind = False
                await self.step()
            except (OSError, asyncpg.PostgresError, KafkaError, KafkaUnavailable, ApiError):
                # The consumer has moved past the failed batch: read it again from the
                # stored offsets before anything else.
                log.exception("%s: a batch failed; reading it again", self._name)
                rewind = True
                await asyncio.sleep(1.0)

    async def _rewind(self) -> None:
        """Seek every partition to its stored offset (the beginning when there is none)."""
        stored = {
            r["partition"]: r["next_offset"]
            for r in await self._pool.fetch(
                "SELECT partition, next_offset FROM projector_offsets WHERE topic = $1",
                self._topic,
            )
        }
        for tp in self._consumer.assignment():
            if tp.partition in stored:
                self._consumer.seek(tp, stored[tp.partition])
            else:
                await self._consumer.seek_to_beginning(tp)
