"""hookline.api.projection.topic_projector on the real database: a record PostgreSQL
refuses is quarantined and the other records of its batch reach their table (on the
real broker too); a step keeps its offsets with its rows and applies nothing twice."""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiokafka import TopicPartition

from hookline.api.projection import deadletters
from hookline.api.projection.topic_projector import Record, TopicProjector
from hookline.core import db, kafka, topics
from hookline.core.config import Settings
from hookline.core.messages import Delivery, Quarantined
from hookline.core.quarantine import original
from support import factories
from support.database import own_database


def _dead(tenant: int, n: int, event_id: str) -> Delivery:
    return factories.delivery(
        delivery_id=f"msg_{tenant}_{n}",
        subscription_id=n,
        tenant=tenant,
        event="order.created",
        event_id=event_id,
        object_id=n,
        payload={"n": n},
        created_at=1.0,
        attempt=3,
        last_error="HTTP 500",
    )


async def test_a_nul_in_one_record_does_not_keep_the_others_out(
    infra: dict[str, str], database_url: str
) -> None:
    settings = Settings.from_env(
        {
            **infra,
            "HOOKLINE_DATABASE_URL": database_url,
            "HOOKLINE_TOPIC_PREFIX": f"hltest-proj-{secrets.token_hex(4)}",
            "HOOKLINE_PARTITIONS": "1",
        }
    )
    await kafka.ensure_topics(settings)
    pool = await db.connect(database_url)
    await db.migrate(pool)
    producer = kafka.producer(settings)
    await producer.start()
    tenant = random.randint(10**9, 2 * 10**9)
    ids = ["e0", "e1", "bad\u0000id", "e3", "e4"]
    projector = TopicProjector(
        settings, pool, topics.dead_letters(settings), deadletters.project, "t", quarantine=producer
    )
    try:
        for n, event_id in enumerate(ids):
            value = _dead(tenant, n, event_id).encode()
            await producer.send_and_wait(topics.dead_letters(settings), value, b"k%d" % n)
        await projector.start()
        assert await projector.catch_up() == 4
        rows = await pool.fetch(
            "SELECT event_id FROM dead_letters WHERE tenant_id = $1 ORDER BY id", tenant
        )
        assert [r["event_id"] for r in rows] == ["e0", "e1", "e3", "e4"]
        offsets = await pool.fetchval(
            "SELECT next_offset FROM projector_offsets WHERE topic = $1",
            topics.dead_letters(settings),
        )
        assert offsets == 5 and projector.quarantined == 1
    finally:
        await projector.stop()
        await producer.stop()
        await pool.close()

    client = kafka.consumer(settings, group=None)
    await client.start()
    try:
        for tp in await kafka.assign_all(client, topics.quarantine(settings)):
            await client.seek_to_beginning(tp)
        batches = await client.getmany(timeout_ms=5000)
    finally:
        await client.stop()
    [record] = [r for recs in batches.values() for r in recs]
    message = Quarantined.decode(record.value)
    assert (message.service, message.topic, message.offset) == (
        "api",
        topics.dead_letters(settings),
        2,
    )
    assert message.tenant == str(tenant) and "0x00" in message.reason
    assert original(message)[:2] == (b"k2", _dead(tenant, 2, ids[2]).encode())


# ``TopicProjector.step`` against the real database, its consumer a fake that hands out
# the batches a test gives it: rows and offsets in one transaction, nothing applied twice.

TOPIC = "unit.things"


@dataclass
class Fetched:
    offset: int
    value: bytes | None
    timestamp: int = 0
    key: bytes | None = b"k"
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class FakeConsumer:
    batches: list[dict[TopicPartition, list[Fetched]]] = field(default_factory=list)

    async def getmany(self, timeout_ms: int = 0, max_records: int = 0) -> Any:
        return self.batches.pop(0) if self.batches else {}


@dataclass
class FakeQuarantine:
    sent: list[Quarantined] = field(default_factory=list)

    async def send_and_wait(self, topic: str, value: bytes | None = None, key: Any = None) -> None:
        assert value is not None
        self.sent.append(Quarantined.decode(value))


class DatabaseDown(ConnectionResetError):
    """What an apply meets when PostgreSQL goes away in the middle of a batch."""


async def _things(conn: db.Connection, records: list[Record]) -> None:
    for r in records:
        if r.value == b"down":
            raise DatabaseDown("connection reset")
        Delivery.decode(r.value)  # a MessageError for one that is not a delivery
    rows = [(r.partition, r.offset, r.value) for r in records]
    await conn.copy_records_to_table("unit_things", records=rows, columns=("p", "o", "v"))


@pytest_asyncio.fixture(loop_scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with own_database(database_url, "hookline_unit") as url:
        pool = await db.connect(url)
        await db.migrate(pool)
        await pool.execute("CREATE TABLE unit_things (p integer, o bigint, v bytea)")
        try:
            yield pool
        finally:
            await pool.close()


def _projector(
    pool: asyncpg.Pool, *batches: list[Fetched]
) -> tuple[TopicProjector, FakeQuarantine]:
    quarantine = FakeQuarantine()
    projector = TopicProjector(
        Settings.from_env({"HOOKLINE_TOPIC_PREFIX": "unit"}),
        pool,
        TOPIC,
        _things,
        "things",
        quarantine=quarantine,
    )
    projector._consumer = FakeConsumer([{TopicPartition(TOPIC, 0): list(b)} for b in batches])
    return projector, quarantine


async def _state(pool: asyncpg.Pool) -> tuple[list[int], int | None]:
    rows = await pool.fetch("SELECT o FROM unit_things ORDER BY o")
    stored = await pool.fetchval(
        "SELECT next_offset FROM projector_offsets WHERE topic = $1", TOPIC
    )
    return [r["o"] for r in rows], stored


def _good(n: int) -> Fetched:
    return Fetched(n, factories.delivery(delivery_id=f"msg_{n}").encode())


async def test_a_step_applies_its_batch_and_keeps_the_offset_with_the_rows(
    pool: asyncpg.Pool,
) -> None:
    first, _ = _projector(pool, [_good(0), _good(1), _good(2)])
    assert await first.step() == 3
    assert await _state(pool) == ([0, 1, 2], 3)
    # A second projector that is behind reads the same records: it applies none again,
    # and the one record past them.
    behind, _ = _projector(pool, [_good(1), _good(2), _good(3)])
    assert await behind.step() == 1
    assert await _state(pool) == ([0, 1, 2, 3], 4)


async def test_a_step_the_database_fails_leaves_neither_rows_nor_offset(pool: asyncpg.Pool) -> None:
    projector, quarantine = _projector(pool, [_good(0), Fetched(1, b"down"), _good(2)])
    with pytest.raises(DatabaseDown):
        await projector.step()
    assert await _state(pool) == ([], None)
    assert quarantine.sent == []  # the infrastructure's fault: read again, not quarantined


async def test_a_record_that_fails_alone_is_quarantined_and_the_rest_applied(
    pool: asyncpg.Pool,
) -> None:
    batch = [_good(0), _good(1), Fetched(2, b"not a delivery"), _good(3), _good(4)]
    projector, quarantine = _projector(pool, batch)
    assert await projector.step() == 4
    assert await _state(pool) == ([0, 1, 3, 4], 5)
    [q] = quarantine.sent
    assert (q.topic, q.offset, q.service) == (TOPIC, 2, "api")
