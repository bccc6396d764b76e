"""Keep a ``SubscriptionTable`` up to date from ``hookline.subscriptions``.

Every process that needs subscriptions (router, deliverer, retry scheduler) reads
the whole compacted topic from the beginning, outside any consumer group, and
keeps following it. ``wait_caught_up`` answers once everything that was on the
topic when it was called has been applied: a process calls it before it starts
work, and again when it meets a subscription id it does not know yet.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from hookline.core import topics
from hookline.core.config import Settings
from hookline.core.kafka import assign_all, consumer
from hookline.core.messages import MessageError, SubscriptionRecord
from hookline.core.subscriptions import SubscriptionTable

log = logging.getLogger(__name__)


class SubscriptionFeed:
    def __init__(self, settings: Settings, table: SubscriptionTable) -> None:
        self.table = table
        self._settings = settings
        self._topic = topics.subscriptions(settings)
        self._consumer: AIOKafkaConsumer | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()  # set once the first catch-up is done

    async def start(self) -> None:
        # Made here, not in __init__: aiokafka wants the running loop.
        self._consumer = consumer(self._settings, group=None)
        await self._consumer.start()
        assigned = await assign_all(self._consumer, self._topic)
        await self._consumer.seek_to_beginning(*assigned)
        self._task = asyncio.create_task(self._run(), name="subscription-feed")
        await self.wait_caught_up()
        self.ready.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()

    async def wait_caught_up(self, timeout_s: float = 30.0) -> None:
        assert self._consumer is not None, "start() the feed first"
        ends = await self._consumer.end_offsets(list(self._consumer.assignment()))

        def done() -> bool:
            return all(self._positions.get(tp, 0) >= end for tp, end in ends.items())

        async with self._progress:
            await asyncio.wait_for(self._progress.wait_for(done), timeout_s)

    async def _run(self) -> None:
        client = self._consumer
        assert client is not None
        while True:
            batches = await client.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for rec in records:
                    self._apply(rec.value)
            for tp in client.assignment():
                self._positions[tp] = await client.position(tp)
            async with self._progress:
                self._progress.notify_all()

    def _apply(self, raw: bytes | None) -> None:
        if raw is None:
            return
        try:
            self.table.apply(SubscriptionRecord.decode(raw))
        except MessageError:
            log.exception("skipping an undecodable subscription record")
