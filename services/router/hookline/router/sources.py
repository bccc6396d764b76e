"""Existing topics as sources, read by the router: each record becomes an event.

``SourceService`` follows ``hookline.sources`` (a ``SourceFeed``) and keeps one
``SourceReader`` per live source, started and stopped as sources are put and deleted
while the router runs. A reader is a plain aiokafka consumer in the group
``<prefix>-router-source-<name>`` (the routers split the topic's partitions); for each
fetched batch it maps every record (``hookline.core.sources.map_record``), writes the
events to ``hookline.events`` keyed as the API writes them (``tenant:object-type:id``),
quarantines the records that map to nothing with the reason, waits for the broker's
acknowledgements, and only then commits the source's offsets. The route agent then
gives these events every guarantee of a published one (commit after routing, dedupe by
eventId, order per object): a record read twice after a crash carries the same eventId
and its copy is dropped.

Why a hop through ``hookline.events`` rather than routing straight from the source:
one path for every event (the same fences, dedupe, fan-out lanes and tests), and a
source topic keyed by the producer's own key is re-keyed by object, so an object's
events keep their order however the producer partitioned them.

A record aiokafka cannot even read (a header name that is not UTF-8) fails its whole
fetch; the reader then reads each partition again one record at a time and quarantines a
stub for it (``hookline.core.unreadable``), so it never stops the source.

A reader first asks the broker whether it may read the topic and use its group
(``hookline.core.kafka_access``): if not, it logs one line that names the source, the
topic and each missing ACL, and tries again after ``RESTART_S``.

A reader that cannot go on (a missing ACL on the source's topic, a fatal broker error, a
bug) stops alone: it logs why, its batch is not committed (so nothing is lost: it is read
again), and it starts again after ``RESTART_S`` from the source's definition as it is
then. One source's trouble never stops the router or another source.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from mode import Service

from hookline.core import db, kafka, kafka_access, metrics, topics, unreadable
from hookline.core.catalog import is_known
from hookline.core.config import Settings
from hookline.core.errors import KafkaRefused
from hookline.core.failure import retry_infra
from hookline.core.feed import SourceFeed
from hookline.core.kafka_auth import principal
from hookline.core.messages import Event, SourceRecord
from hookline.core.quarantine import quarantine_record, send_to_quarantine
from hookline.core.sources import Record, Refusal, Refused, Source, map_record, source_of

log = logging.getLogger(__name__)

FETCH_RECORDS = 500
TOPIC_WAIT_S = 5.0  # how often a reader looks again for a topic that does not exist yet
STOP_WAIT_S = 10.0
RESTART_S = 30.0  # after a reader failed


class Tenants:
    """Which tenant ids exist, asked of PostgreSQL (``tenants``) once per unknown id:
    a tenant is never deleted, so a known id stays known. The pool is made on first use,
    so a router without sources needs no database."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: asyncpg.Pool | None = None
        self._known: set[int] = set()

    async def existing(self, ids: set[int]) -> set[int]:
        unknown = ids - self._known
        if unknown:
            found = await retry_infra(lambda: self._query(sorted(unknown)), what="tenants")
            self._known |= found
        return ids & self._known

    async def _query(self, ids: list[int]) -> set[int]:
        if self._pool is None:
            self._pool = await db.connect(self._settings.database_url, max_size=2)
        rows = await self._pool.fetch("SELECT id FROM tenants WHERE id = ANY($1::bigint[])", ids)
        return {int(r["id"]) for r in rows}

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()


@dataclass
class Pace:
    """Pure: how long a source's reader waits after taking ``taken`` records, so that
    it reads at most ``rate`` records a second on average and ``burst`` at once
    (``HOOKLINE_SOURCE_RATE``). The caller passes the time. ``_due`` is when the
    records taken so far would all have been read at ``rate``; an idle source's
    credit is capped at ``burst``."""

    rate: float
    burst: int
    _due: float = float("-inf")

    def wait(self, taken: int, now: float) -> float:
        self._due = max(self._due, now - self.burst / self.rate) + taken / self.rate
        return max(0.0, self._due - now)


class SourceReader:
    """One source's topic, read into ``hookline.events`` (see the module's docstring)."""

    def __init__(
        self, settings: Settings, source: Source, producer: AIOKafkaProducer, tenants: Tenants
    ) -> None:
        self.source = source
        self._settings = settings
        self._producer = producer
        self._tenants = tenants
        self._events = topics.events(settings)
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._pace = Pace(settings.source_rate, FETCH_RECORDS)

    @property
    def group(self) -> str:
        return f"{self._settings.topic_prefix}-router-source-{self.source.name}"

    async def run(self) -> None:
        try:
            await self._check_access()
            if await self._topic_exists():
                self._consumer = kafka.consumer(
                    self._settings, group=self.group, max_poll_records=FETCH_RECORDS
                )
                await self._consumer.start()
                self._consumer.subscribe([self.source.topic])
                log.info("reading source %s from %s", self.source.name, self.source.topic)
                while not self._stopping.is_set():
                    await self._step(self._consumer)
        finally:
            if self._consumer is not None:
                await self._consumer.stop()

    def stop(self) -> None:
        """Ends ``run`` after the batch under way is committed."""
        self._stopping.set()

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    async def _check_access(self) -> None:
        """``KafkaRefused``, with one line that names the source, its topic and what is
        missing, when this principal may not read the topic or use the group (without
        Describe on it, a topic would look as if it did not exist)."""
        found = await retry_infra(
            lambda: kafka_access.lacking(
                self._settings,
                {self.source.topic: {kafka_access.READ}},
                groups=[self.group],
            ),
            what=f"source {self.source.name}: ACL check",
        )
        line = kafka_access.refusal(principal(self._settings), found or [])
        if line is not None:
            raise KafkaRefused(
                f"source {self.source.name} cannot read topic {self.source.topic}: {line}"
            )

    async def _topic_exists(self) -> bool:
        """Wait until the topic exists (asked of the whole cluster's metadata, so that
        asking never creates it on a broker that auto-creates topics); False if the
        reader was stopped before."""
        probe = kafka.consumer(self._settings, group=None)
        await probe.start()
        try:
            said = False
            while not self._stopping.is_set():
                found = await retry_infra(probe.topics, what=f"source {self.source.name}")
                if self.source.topic in found:
                    return True
                # Once, not every look: a source put before its topic waits quietly.
                (log.debug if said else log.warning)(
                    "source %s: topic %s does not exist (yet)", self.source.name, self.source.topic
                )
                said = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), TOPIC_WAIT_S)
            return False
        finally:
            await probe.stop()

    async def _step(self, consumer: AIOKafkaConsumer) -> None:
        async def batch() -> dict[TopicPartition, list[Any]]:
            got: dict[TopicPartition, list[Any]] = await unreadable.fetch(
                consumer, timeout_ms=500, max_records=FETCH_RECORDS
            )
            return got

        try:
            batches = await retry_infra(batch, what=f"source {self.source.name}: fetch")
        except unreadable.Unreadable as exc:
            log.warning(
                "source %s: %s; reading it again one record at a time", self.source.name, exc
            )
            for tp in sorted(consumer.assignment()):
                await self._read_carefully(consumer, tp)
            return
        records = [r for tp_records in batches.values() for r in tp_records]
        if not records:
            return
        await self.take(records)
        ends = {tp: rs[-1].offset + 1 for tp, rs in batches.items() if rs}
        await self._commit(consumer, ends)
        await self._paced(len(records))

    async def _paced(self, taken: int) -> None:
        """Wait as ``Pace`` says (the records taken are routed and committed): one
        source flooded with records takes at most its rate of the router; a stop ends
        the wait."""
        delay = self._pace.wait(taken, time.monotonic())
        if delay > 0:
            metrics.SOURCE_PACED.labels(self.source.name).inc(delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _read_carefully(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        """One partition from its committed offset, its unreadable records quarantined
        as stubs (``hookline.core.unreadable``), then committed."""
        what = f"source {self.source.name}"
        start, found = await unreadable.Careful(consumer, tp, what).read(FETCH_RECORDS)
        for span in found.spans:
            await self._quarantine_span(tp, span)
        await self.take(found.records)
        if found.end > start:
            await self._commit(consumer, {tp: found.end})

    async def _commit(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        await retry_infra(lambda: consumer.commit(ends), what=f"source {self.source.name}: commit")

    async def take(self, records: list[Any]) -> None:
        """Map, write and quarantine one fetch's records; returns once the broker
        acknowledged every write, so that their offsets may be committed."""
        if not records:
            return
        mapped = [(r, map_record(self.source, _record_of(r), known=is_known)) for r in records]
        claimed = {m.tenant for _, m in mapped if isinstance(m, Event)}
        existing = await self._tenants.existing(claimed) if claimed else set()
        sent: list[Awaitable[Any]] = []
        for rec, found in mapped:
            m = found
            if isinstance(m, Event) and m.tenant not in existing:
                m = Refused(f"tenant {m.tenant} does not exist", str(m.tenant))
            if isinstance(m, Refused):
                await self._quarantine(rec, m)
            else:
                sent.append(await self._producer.send(self._events, m.encode(), key=m.key()))
        await asyncio.gather(*sent)
        metrics.EVENTS_PUBLISHED.inc(len(sent))

    async def _quarantine_span(self, tp: TopicPartition, span: unreadable.Span) -> None:
        await retry_infra(
            lambda: send_to_quarantine(
                self._producer,
                self._settings,
                service="router",
                topic=tp.topic,
                partition=span.partition,
                offset=span.first,
                key=None,
                value=None,
                reason=f"source {self.source.name}: {span.reason()}",
            ),
            what=f"source {self.source.name}: quarantine",
        )

    async def _quarantine(self, rec: Any, refused: Refused) -> None:
        reason = f"source {self.source.name}: {refused.reason}"
        await retry_infra(
            lambda: quarantine_record(
                self._producer,
                self._settings,
                service="router",
                record=rec,
                reason=reason,
                tenant=refused.tenant,
            ),
            what=f"source {self.source.name}: quarantine",
        )


def _record_of(rec: Any) -> Record:
    return Record(
        key=rec.key,
        value=rec.value,
        headers=tuple(rec.headers or ()),
        partition=rec.partition,
        offset=rec.offset,
        timestamp_ms=rec.timestamp if rec.timestamp_type is not None else None,
    )


class SourceService(Service):
    """The feed of sources and a reader for each (an ``app.add_dependency`` of the
    router; ``feed`` goes in the ``FeedService``, which starts it once the topics are
    there)."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.feed = SourceFeed(settings, service="router", on_change=self._changed)
        self.tenants = Tenants(settings)
        self.readers: dict[str, tuple[SourceReader, asyncio.Task[None]]] = {}
        # Sources not read because another reads their topic, started once it stops.
        self.waiting: dict[str, SourceRecord] = {}
        self._changes: asyncio.Queue[SourceRecord] = asyncio.Queue()
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self.restart_s = RESTART_S

    def _changed(self, record: SourceRecord) -> None:
        self._changes.put_nowait(record)

    async def on_start(self) -> None:
        self._producer = kafka.producer(self.settings)
        await self._producer.start()
        self._task = asyncio.create_task(self._follow(), name="sources")

    async def on_stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for name in list(self.readers):
            await self._stop_reader(name)
        if self._producer is not None:
            await self._producer.stop()
        await self.tenants.close()

    async def _follow(self) -> None:
        while True:
            record = await self._changes.get()
            await self._stop_reader(record.name)
            self.waiting.pop(record.name, None)
            if not record.deleted:
                self._start_reader(record)
            self._start_waiting()  # the change may have freed a topic

    def _start_reader(self, record: SourceRecord) -> None:
        assert self._producer is not None
        try:
            source = source_of(record, prefix=self.settings.topic_prefix)
        except Refusal as exc:  # the API checks as much; a record written by hand may not be
            log.error("source %s is not read: %s", record.name, exc.reason)
            return
        other = self._reading(source.topic)
        if other is not None:  # the API refuses it; a record written by hand may not be
            log.error(
                "source %s is not read: its topic %s is read by source %s already (each"
                " record would be two events); it starts once that one stops reading it",
                record.name,
                source.topic,
                other,
            )
            self.waiting[record.name] = record
            return
        reader = SourceReader(self.settings, source, self._producer, self.tenants)
        task = asyncio.create_task(reader.run(), name=f"source-{record.name}")
        task.add_done_callback(lambda t: self._ended(record.name, reader, t))
        self.readers[record.name] = (reader, task)

    def _reading(self, topic: str) -> str | None:
        """The source whose reader has ``topic``, if one has."""
        for name, (reader, _) in self.readers.items():
            if reader.source.topic == topic:
                return name
        return None

    def _start_waiting(self) -> None:
        for name, record in sorted(self.waiting.items()):
            if self._reading(record.topic) is None:
                del self.waiting[name]
                self._start_reader(record)

    async def _stop_reader(self, name: str) -> None:
        held = self.readers.pop(name, None)
        if held is None:
            return
        reader, task = held
        reader.stop()
        _, pending = await asyncio.wait({task}, timeout=STOP_WAIT_S)
        if pending:
            task.cancel()  # uncommitted records are read again by the next reader
            await asyncio.gather(task, return_exceptions=True)

    def _ended(self, name: str, reader: SourceReader, task: asyncio.Task[None]) -> None:
        if reader.stopped:  # on purpose
            return
        exc = None if task.cancelled() else task.exception()
        if isinstance(exc, KafkaRefused):  # its one line says it all: no traceback
            log.error("%s; it starts again in %.0f s", exc, self.restart_s)
        else:
            log.error(
                "the reader of source %s stopped; it starts again in %.0f s",
                name,
                self.restart_s,
                exc_info=exc,
            )
        asyncio.get_running_loop().call_later(self.restart_s, self._restart, name)

    def _restart(self, name: str) -> None:
        """Start the source again as it is defined now (deleted meanwhile: not at all)."""
        current = self.feed.latest.get(name)
        if current is not None:
            self._changes.put_nowait(current)
