"""Follow a topic into memory: ``TopicFeed``, and ``SubscriptionFeed`` for subscriptions.

A ``TopicFeed`` reads every partition of one topic outside any consumer group, from
where ``_seek`` puts it, and keeps following it, handing each record to ``_apply``.
``SubscriptionFeed`` keeps a ``SubscriptionTable`` up to date from
``hookline.subscriptions``; the router keeps what it routed recently with another.

Every process that needs subscriptions (router, deliverer, retry scheduler) reads
the whole compacted topic from the beginning, outside any consumer group, and
keeps following it. ``wait_caught_up`` answers once everything that was on the
topic when it was called has been applied: a process calls it before it starts
work, and again when it meets a subscription id it does not know yet.

``fence`` is the same promise for the hot path ("a change acknowledged before this
call is applied when it returns"), made cheap: callers that arrive while a round
(one ``end_offsets`` request, then waiting for the feed to reach those offsets) is
under way share the next round, so a burst of callers costs one or two requests.
The end offsets are asked on a connection of their own: a broker answers one
connection's requests in order, so behind the feed's long-polling fetch (up to
``fetch_max_wait_ms``) the answer waited 50 ms on average (docs/benchmark.md).

Failures follow ``hookline.core.failure``: a broker that cannot be reached is waited
for (fetches retried with backoff); a record that cannot be applied (undecodable,
wrong types, or ``_apply`` raising for it) is quarantined and skipped, so the table
stays what the good records make it. If the feed's task ends for any other reason
(a fatal error, a bug outside one record), ``ready`` is cleared and ``on_death`` runs:
by default the process logs it and exits (70) so that its supervisor restarts it,
instead of serving from a table that no longer follows the topic.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hookline.core import kafka, topics
from hookline.core.catalog import set_plural
from hookline.core.config import Settings
from hookline.core.failure import is_poison, reason_of, retry_infra
from hookline.core.kafka import assign_all, consumer
from hookline.core.messages import CatalogEntry, SourceRecord, SubscriptionRecord
from hookline.core.quarantine import quarantine_record
from hookline.core.subscriptions import SubscriptionTable

log = logging.getLogger(__name__)

EXIT_FEED_DIED = 70


def exit_process(feed: TopicFeed, exc: BaseException | None) -> None:
    """The default ``on_death``: a process whose feed stopped following must not go on."""
    log.critical("%s stopped following its topic; exiting", feed.name, exc_info=exc)
    logging.shutdown()
    os._exit(EXIT_FEED_DIED)


class TopicFeed:
    """One topic, followed; subclasses say where to start and what a record does."""

    name = "feed"

    def __init__(self, settings: Settings, topic: str, *, service: str = "feed") -> None:
        self._settings = settings
        self._topic = topic
        self._service = service  # who quarantines what this feed cannot apply
        self._quarantine: AIOKafkaProducer | None = None
        self._stopping = False
        self.on_death: Callable[[TopicFeed, BaseException | None], None] = exit_process
        self._consumer: AIOKafkaConsumer | None = None
        self._offsets: AIOKafkaConsumer | None = None  # asks end offsets, never fetches
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()  # set once the first catch-up is done
        self._round: asyncio.Task[None] | None = None
        self._rounds_started = 0
        self._rounds_done = 0

    async def start(self) -> None:
        # Made here, not in __init__: aiokafka wants the running loop.
        self._consumer = consumer(self._settings, group=None)
        await self._consumer.start()
        self._offsets = consumer(self._settings, group=None)
        await self._offsets.start()
        assigned = await assign_all(self._consumer, self._topic)
        await self._seek(self._consumer, assigned)
        self._task = asyncio.create_task(self._run(), name=self.name)
        self._task.add_done_callback(self._ended)
        await self.wait_caught_up()
        self.ready.set()

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for client in (self._consumer, self._offsets, self._quarantine):
            if client is not None:
                await client.stop()

    def alive(self) -> bool:
        """A readiness check: caught up once, and still following the topic."""
        return self.ready.is_set() and self._task is not None and not self._task.done()

    def _ended(self, task: asyncio.Task[None]) -> None:
        if self._stopping:
            return
        self.ready.clear()
        exc = None if task.cancelled() else task.exception()
        self.on_death(self, exc)

    async def wait_caught_up(self, timeout_s: float = 30.0) -> None:
        assert self._consumer is not None and self._offsets, "start() the feed first"
        ends = await self._offsets.end_offsets(list(self._consumer.assignment()))

        def done() -> bool:
            return all(self._positions.get(tp, 0) >= end for tp, end in ends.items())

        async with self._progress:
            await asyncio.wait_for(self._progress.wait_for(done), timeout_s)

    async def fence(self, timeout_s: float = 30.0) -> None:
        """Return once every record on the topic at the time of the call is applied."""
        # A round that has begun reading the end offsets may have read them before this
        # call: only a round that begins after it counts.
        needed = self._rounds_started + 1
        while self._rounds_done < needed:
            if self._round is None:
                self._round = asyncio.create_task(self._fence_round(timeout_s))
            await asyncio.shield(self._round)

    async def _fence_round(self, timeout_s: float) -> None:
        self._rounds_started += 1  # from here on, the end offsets may be read
        number = self._rounds_started
        try:
            await self.wait_caught_up(timeout_s)
            self._rounds_done = max(self._rounds_done, number)
        finally:
            self._round = None

    async def _run(self) -> None:
        client = self._consumer
        assert client is not None

        async def fetch() -> dict[TopicPartition, list[Any]]:
            batches: dict[TopicPartition, list[Any]] = await client.getmany(
                timeout_ms=500, max_records=5000
            )
            return batches

        while True:
            batches = await retry_infra(fetch, what=f"{self.name}: fetch")
            for records in batches.values():
                for rec in records:
                    await self._take(rec)
            for tp in client.assignment():
                self._positions[tp] = await client.position(tp)
            async with self._progress:
                self._progress.notify_all()

    async def _take(self, rec: Any) -> None:
        try:
            self._apply(rec.value)
        except Exception as exc:
            if not is_poison(exc):
                raise
            reason = reason_of(exc)
            await retry_infra(
                lambda: self._send_to_quarantine(rec, reason),
                what=f"{self.name}: quarantine",
            )

    async def _send_to_quarantine(self, rec: Any, reason: str) -> None:
        if self._quarantine is None:
            self._quarantine = kafka.producer(self._settings)
            await self._quarantine.start()
        await quarantine_record(
            self._quarantine, self._settings, service=self._service, record=rec, reason=reason
        )

    async def _seek(self, client: AIOKafkaConsumer, assigned: list[TopicPartition]) -> None:
        await client.seek_to_beginning(*assigned)

    def _apply(self, raw: bytes | None) -> None:
        """Apply one record; raising quarantines it (``failure.is_poison``)."""
        raise NotImplementedError


class SubscriptionFeed(TopicFeed):
    """Every subscription, read from the beginning of the compacted topic."""

    name = "subscription-feed"

    def __init__(
        self, settings: Settings, table: SubscriptionTable, *, service: str = "feed"
    ) -> None:
        super().__init__(settings, topics.subscriptions(settings), service=service)
        self.table = table

    def _apply(self, raw: bytes | None) -> None:
        if raw is not None:
            self.table.apply(SubscriptionRecord.decode(raw))


class CatalogFeed(TopicFeed):
    """The event types an admin set, from ``hookline.catalog``: their plurals name
    the objects of a batch."""

    name = "catalog-feed"

    def __init__(self, settings: Settings, *, service: str = "feed") -> None:
        super().__init__(settings, topics.catalog(settings), service=service)

    def _apply(self, raw: bytes | None) -> None:
        if raw is not None:
            entry = CatalogEntry.decode(raw)
            set_plural(entry.name, entry.plural)


class SourceFeed(TopicFeed):
    """The sources an admin defined, from ``hookline.sources``, folded by ``version``
    as subscriptions are (a record not newer than the one held is ignored).
    ``on_change`` is called with each source whose definition changed (deleted too)."""

    name = "source-feed"

    def __init__(
        self,
        settings: Settings,
        *,
        service: str = "feed",
        on_change: Callable[[SourceRecord], None] | None = None,
    ) -> None:
        super().__init__(settings, topics.sources(settings), service=service)
        self.latest: dict[str, SourceRecord] = {}  # deleted ones too: versions go on
        self._on_change = on_change

    def live(self) -> list[SourceRecord]:
        return sorted((s for s in self.latest.values() if not s.deleted), key=lambda s: s.name)

    def _apply(self, raw: bytes | None) -> None:
        if raw is None:
            return
        record = SourceRecord.decode(raw)
        held = self.latest.get(record.name)
        if held is not None and record.version <= held.version:
            return
        self.latest[record.name] = record
        if self._on_change is not None:
            self._on_change(record)
