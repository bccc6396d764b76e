"""Project ``hookline.subscriptions`` into PostgreSQL's ``subscriptions`` table.

The topic is the log of record. The projector reads it outside any consumer
group and keeps its position per partition in ``projector_offsets``, written in
the same transaction as the rows, so a crash never skips or half-applies a
batch. It applies the one fold every reader uses (``UPSERT`` only replaces an
older version). ``rebuild`` drops the read model and reads the topic again.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from aiokafka import AIOKafkaConsumer

from hookline.api.store import UPSERT, upsert_args
from hookline.core import topics
from hookline.core.config import Settings
from hookline.core.kafka import assign_all, consumer, lagging
from hookline.core.messages import MessageError, SubscriptionRecord

log = logging.getLogger(__name__)


class Projector:
    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._topic = topics.subscriptions(settings)
        self._consumer: AIOKafkaConsumer = consumer(settings, group=None)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        assigned = await assign_all(self._consumer, self._topic)
        stored = {
            r["partition"]: r["next_offset"]
            for r in await self._pool.fetch(
                "SELECT partition, next_offset FROM projector_offsets WHERE topic = $1", self._topic
            )
        }
        for tp in assigned:
            if tp.partition in stored:
                self._consumer.seek(tp, stored[tp.partition])
            else:
                await self._consumer.seek_to_beginning(tp)

    def run_in_background(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="projector")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    async def catch_up(self) -> int:
        """Apply everything on the topic now; returns how many records were read."""
        ends = await self._consumer.end_offsets(list(self._consumer.assignment()))
        applied = 0
        while await lagging(self._consumer, ends):
            applied += await self._step()
        return applied

    async def _follow(self) -> None:
        while True:
            try:
                await self._step()
            except (OSError, asyncpg.PostgresError):
                log.exception("projector step failed; retrying")
                await asyncio.sleep(1.0)

    async def _step(self) -> int:
        batches = await self._consumer.getmany(timeout_ms=500, max_records=2000)
        if not batches:
            return 0
        rows = []
        for records in batches.values():
            for rec in records:
                if rec.value is None:
                    continue
                try:
                    rows.append(upsert_args(SubscriptionRecord.decode(rec.value)))
                except MessageError:
                    log.exception("skipping an undecodable subscription record")
        offsets = [
            (self._topic, tp.partition, recs[-1].offset + 1) for tp, recs in batches.items() if recs
        ]
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.executemany(UPSERT, rows)
            await conn.executemany(
                "INSERT INTO projector_offsets (topic, partition, next_offset) VALUES ($1, $2, $3)"
                " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
                offsets,
            )
        return sum(len(r) for r in batches.values())


async def rebuild(settings: Settings, pool: asyncpg.Pool) -> int:
    """Drop the subscriptions read model and project the whole topic again."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM subscriptions")
        await conn.execute(
            "DELETE FROM projector_offsets WHERE topic = $1", topics.subscriptions(settings)
        )
    projector = Projector(settings, pool)
    await projector.start()
    try:
        return await projector.catch_up()
    finally:
        await projector.stop()
