"""A projector on the real broker and database: a record PostgreSQL refuses is
quarantined, the other records of its batch reach their table."""

from __future__ import annotations

import random
import secrets

from hookline.api.projection import deadletters
from hookline.api.projection.topic_projector import TopicProjector
from hookline.core import db, kafka, topics
from hookline.core.config import Settings
from hookline.core.messages import Delivery, Quarantined
from hookline.core.quarantine import original
from support import factories


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
