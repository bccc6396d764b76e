"""The replay job: route one tenant's events since a time again, to one subscription.

The job reads ``hookline.events`` outside any consumer group: per partition from the
first offset at or after ``since`` (``offsets_for_times``) up to the end offset it
found when it started, so events published later are left to the router. Each
event of the subscription's tenant and types is planned exactly as the router
plans it (``hookline.core.routing``: same ``fields``, same batches), with new
delivery ids and its own ordering keys (docs/replay.md), and written to
``hookline.deliveries``; the deliverer does the rest.

Progress (``positions``: next offset per partition) is saved in ``replays`` after
each chunk is acknowledged by the broker, with a heartbeat. ``processed`` and
``total`` count the tenant's events only: the range holds every tenant's, and how
many is not theirs to know. A job whose heartbeat stops (its API process died) is
taken over by another API process from its saved positions, so a replay finishes
at least once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hookline.core import kafka, topics, unreadable
from hookline.core.batches import build_batches
from hookline.core.config import Settings
from hookline.core.messages import Delivery, Event, MessageError, SubscriptionRecord
from hookline.core.routing import BATCH, is_stale, plan_deliveries

log = logging.getLogger(__name__)

FETCH_RECORDS = 1000  # records a fetch returns at most

RUNNING, DONE, FAILED = "RUNNING", "DONE", "FAILED"
STALE_AFTER_S = 15.0  # a RUNNING job without a heartbeat for this long is taken over


@dataclass
class Plan:
    """What one chunk of events makes: deliveries to write, and counts."""

    deliveries: list[Delivery] = field(default_factory=list)
    processed: int = 0
    replayed: int = 0


def plan_chunk(
    records: Iterable[tuple[int, bytes | None]],
    sub: SubscriptionRecord,
    replay_id: str,
    newest: dict[str, int],
    now: float,
) -> Plan:
    """Pure: the deliveries for a chunk of (offset, event) of one partition or more.

    ``newest`` (each object's newest version in this replay so far) is updated, so a
    version published late after a newer one is skipped, as the router does."""
    plan = Plan()
    items: list[Delivery] = []
    for offset, raw in records:
        event = _decode(raw)
        if event is None or event.tenant != sub.tenant:
            continue
        plan.processed += 1
        if event.event not in sub.events:
            continue
        key = event.key().decode()
        if is_stale(event, newest.get(key)):
            continue
        if event.version is not None:
            newest[key] = max(event.version, newest.get(key, event.version))
        planned = plan_deliveries(event, [sub], now, order=offset, replay_id=replay_id)
        plan.replayed += 1
        for d in planned:
            (items if d.format == BATCH else plan.deliveries).append(d)
    plan.deliveries += build_batches(items, now)
    return plan


def _decode(raw: bytes | None) -> Event | None:
    if raw is None:
        return None
    try:
        return Event.decode(raw)
    except MessageError:
        return None


def offsets(raw: Any) -> dict[int, int]:
    """Offsets per partition as ``replays`` keeps them (jsonb), or {}."""
    data = orjson.loads(raw) if isinstance(raw, str | bytes) else raw or {}
    return {int(k): int(v) for k, v in data.items()}


def _json(offsets: dict[int, int]) -> str:
    return orjson.dumps({str(k): v for k, v in offsets.items()}).decode()


class ReplayJob:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        row: asyncpg.Record,
        sub: SubscriptionRecord,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._producer = producer
        self._row = row
        self._sub = sub
        self.id: str = row["id"]
        self._newest: dict[str, int] = {}

    async def run(self) -> None:
        consumer = kafka.consumer(self._settings, group=None)
        await consumer.start()
        try:
            await self._scan(consumer)
            await self._finish(DONE, None)
        except asyncio.CancelledError:
            raise  # the process is stopping: another one resumes the job
        except Exception as exc:
            log.exception("replay %s failed", self.id)
            await self._finish(FAILED, f"{type(exc).__name__}: {exc}")
        finally:
            await consumer.stop()

    async def _scan(self, consumer: AIOKafkaConsumer) -> None:
        topic = topics.events(self._settings)
        tps = await kafka.assign_all(consumer, topic)
        starts, ends = await self._range(consumer, tps)
        positions = offsets(self._row["positions"]) or dict(starts)
        for tp in tps:
            consumer.seek(tp, positions.get(tp.partition, ends[tp.partition]))
        while True:
            todo = [tp for tp in tps if positions.get(tp.partition, 0) < ends[tp.partition]]
            consumer.pause(*[tp for tp in tps if tp not in todo])
            if not todo:
                return
            batches = await self._fetch(consumer, todo, positions, ends)
            records = []
            for tp, recs in batches.items():
                end = ends[tp.partition]
                records += [(r.offset, r.value) for r in recs if r.offset < end]
            for tp in todo:  # the position, not the last record: markers take offsets too
                positions[tp.partition] = min(await consumer.position(tp), ends[tp.partition])
            plan = plan_chunk(records, self._sub, self.id, self._newest, time.time())
            await self._send(plan.deliveries)
            await self._save(positions, plan)

    async def _fetch(
        self,
        consumer: AIOKafkaConsumer,
        todo: list[TopicPartition],
        positions: dict[int, int],
        ends: dict[int, int],
    ) -> dict[TopicPartition, list[Any]]:
        """The next records of ``todo``. A fetch that fails on a record aiokafka cannot
        read (a header name that is not UTF-8: the router quarantined it) reads each
        partition again from its saved position one record at a time, past it."""
        try:
            got: dict[TopicPartition, list[Any]] = await unreadable.fetch(
                consumer, *todo, timeout_ms=500, max_records=FETCH_RECORDS
            )
            return got
        except unreadable.Unreadable as exc:
            log.warning("replay %s: %s; reading again one record at a time", self.id, exc)
        found: dict[TopicPartition, list[Any]] = {}
        for tp in todo:
            what = f"replay {self.id}"
            start = positions.get(tp.partition, ends[tp.partition])
            _, read = await unreadable.Careful(consumer, tp, what).read(FETCH_RECORDS, start)
            for span in read.spans:
                log.warning("replay %s: skipped %s", self.id, span.reason())
            found[tp] = read.records
        return found

    async def _range(
        self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]
    ) -> tuple[dict[int, int], dict[int, int]]:
        """The offsets to read, per partition: saved by an earlier run, or found now."""
        if self._row["ends"] is not None:
            return offsets(self._row["starts"]), offsets(self._row["ends"])
        since_ms = int(self._row["since"].timestamp() * 1000)
        ends = {tp.partition: o for tp, o in (await consumer.end_offsets(tps)).items()}
        found = await consumer.offsets_for_times({tp: since_ms for tp in tps})
        starts = {
            tp.partition: (ends[tp.partition] if at is None else at.offset)
            for tp, at in found.items()
        }
        await self._pool.execute(
            "UPDATE replays SET starts = $2::jsonb, ends = $3::jsonb, positions = $2::jsonb,"
            " heartbeat_at = now() WHERE id = $1",
            self.id,
            _json(starts),
            _json(ends),
        )
        return starts, ends

    async def _send(self, deliveries: list[Delivery]) -> None:
        # A replay is a backlog by nature: the bulk lane, behind no other tenant's
        # deliveries and in front of none (hookline.core.lanes).
        target = topics.deliveries_bulk(self._settings)
        acks = [await self._producer.send(target, d.encode(), key=d.key()) for d in deliveries]
        await asyncio.gather(*acks)

    async def _save(self, positions: dict[int, int], plan: Plan) -> None:
        await self._pool.execute(
            "UPDATE replays SET positions = $2::jsonb, processed = processed + $3,"
            " replayed = replayed + $4, heartbeat_at = now() WHERE id = $1",
            self.id,
            _json(positions),
            plan.processed,
            plan.replayed,
        )

    async def _finish(self, status: str, error: str | None) -> None:
        # Once DONE, the tenant's events read are the tenant's events in the range.
        await self._pool.execute(
            "UPDATE replays SET status = $2, error = $3, finished_at = now(),"
            " total = CASE WHEN $2 = 'DONE' THEN processed END, heartbeat_at = now()"
            " WHERE id = $1",
            self.id,
            status,
            error,
        )
