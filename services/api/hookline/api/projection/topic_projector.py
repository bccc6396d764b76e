"""Follow one topic into PostgreSQL in batches, its position kept with the rows.

Used for ``hookline.subscriptions`` (folded by version), ``hookline.attempts`` and
``hookline.dead-letters``. It reads outside any consumer group and stores its next offset per
partition in ``projector_offsets``, in the same transaction as the rows, so a
crash neither skips nor doubles a batch. Attempts and dead letters are appended,
not folded by version, so applying a record twice would double it:
each batch locks its partitions' offset rows and applies only the records at or
past the stored offsets. Two API processes can then both run the projector; the
one that is behind finds its records already applied and skips them.

Failures follow ``hookline.core.failure``. A batch that fails for the
infrastructure (database or broker down) is rolled back and read again from the
stored offsets, after a capped backoff. A batch that fails for its records (one
that cannot be decoded, a value PostgreSQL refuses such as a NUL in a COPY) is
taken apart inside its transaction (savepoints, halves until the records that
fail alone): the others are applied, those are quarantined, and the offsets move
past them all in the same transaction, committed only once the broker has the
quarantined records. If the projector's task ends for anything else, the process
exits (70) for its supervisor to restart it; ``alive`` is the readiness check.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer

from hookline.core import db
from hookline.core.config import Settings
from hookline.core.failure import is_poison, not_fatal, reason_of, retry, retry_infra
from hookline.core.kafka import assign_all, consumer, lagging
from hookline.core.quarantine import Producer, send_to_quarantine

log = logging.getLogger(__name__)

BATCH = 2000


EXIT_PROJECTOR_DIED = 70


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    timestamp_ms: int
    value: bytes
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()


Apply = Callable[[db.Connection, list[Record]], Awaitable[None]]
"""Writes one batch's rows on ``conn``, inside the batch's transaction; raises (a
``MessageError``, asyncpg's ``DataError``...) for a record it cannot apply."""

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
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        topic: str,
        apply: Apply,
        name: str,
        *,
        quarantine: Producer | None,
    ) -> None:
        """``quarantine`` is the producer that records what cannot be applied; None
        (only for the quarantine's own projector) logs and skips it instead."""
        self._settings = settings
        self._pool = pool
        self._topic = topic
        self._apply = apply
        self._name = name
        self._producer = quarantine
        self._consumer: AIOKafkaConsumer = consumer(settings, group=None)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._rewind_first = False
        self.quarantined = 0

    async def start(self) -> None:
        await self._consumer.start()
        await assign_all(self._consumer, self._topic)
        await self._rewind()

    def run_in_background(self) -> None:
        self._task = asyncio.create_task(self._follow(), name=self._name)
        self._task.add_done_callback(self._ended)

    def alive(self) -> bool:
        """A readiness check: following the topic (or not started in the background)."""
        return self._task is None or not self._task.done()

    def _ended(self, task: asyncio.Task[None]) -> None:
        if self._stopping:
            return
        exc = None if task.cancelled() else task.exception()
        log.critical("%s stopped following its topic; exiting", self._name, exc_info=exc)
        logging.shutdown()
        os._exit(EXIT_PROJECTOR_DIED)

    async def stop(self) -> None:
        self._stopping = True
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
            Record(tp.partition, rec.offset, rec.timestamp, rec.value, rec.key, rec.headers or ())
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
            poison = await self._apply_apart(conn, fresh) if fresh else []
            for record, reason in poison:  # acknowledged before the offsets commit
                await self._quarantine(record, reason)
            await conn.executemany(_SAVE, [(self._topic, p, end) for p, end in ends.items()])
        return len(fresh) - len(poison)

    async def _apply_apart(
        self, conn: db.Connection, records: list[Record]
    ) -> list[tuple[Record, str]]:
        """Apply ``records`` in a savepoint; if that fails for them, apply each half
        alike. Returns the records that fail alone, with the reason."""
        try:
            async with conn.transaction():
                await self._apply(conn, records)
            return []
        except Exception as exc:
            if not is_poison(exc):
                raise
            if len(records) == 1:
                return [(records[0], reason_of(exc))]
        half = len(records) // 2
        return [
            *await self._apply_apart(conn, records[:half]),
            *await self._apply_apart(conn, records[half:]),
        ]

    async def _quarantine(self, record: Record, reason: str) -> None:
        self.quarantined += 1
        if self._producer is None:
            log.error(
                "%s: skipping a record it cannot apply at offset %s of partition %s: %s",
                self._name,
                record.offset,
                record.partition,
                reason,
            )
            return
        producer = self._producer

        async def send() -> None:
            await send_to_quarantine(
                producer,
                self._settings,
                service="api",
                topic=self._topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key,
                value=record.value,
                reason=reason,
                headers=record.headers,
            )

        await retry_infra(send, what=f"{self._name}: quarantine", give_up_after_s=30.0)

    async def _follow(self) -> None:
        # A failure that is not one record's fault (those are quarantined in ``step``):
        # the database, the broker, or the whole batch; retried until it goes through.
        while True:
            await retry(self._step_again, what=f"{self._name}: a batch", when=not_fatal)

    async def _step_again(self) -> None:
        """``step``; after a failed one, first read the failed batch again from the stored
        offsets (the consumer has moved past it)."""
        if self._rewind_first:
            await self._rewind()
            self._rewind_first = False
        try:
            await self.step()
        except Exception:
            self._rewind_first = True
            raise

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
