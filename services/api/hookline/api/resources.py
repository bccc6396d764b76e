"""What both of the API's roles hold (``http`` and ``worker``, see ``__main__``): the
settings, a PostgreSQL pool, a Kafka producer, the subscription store, and the
projectors running in this process.

``opened`` makes them (the topics ensured, the schema migrated) and closes them
again; ``readiness`` is the ``/readyz`` of either role: PostgreSQL and Kafka answer,
and every projector of the process still follows its topic.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaProducer

from hookline.api.projection.topic_projector import TopicProjector
from hookline.api.store import SubscriptionStore
from hookline.core import db, kafka, kafka_access, service, topics
from hookline.core.config import Settings


@dataclass(kw_only=True)
class Resources:
    settings: Settings
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    store: SubscriptionStore
    # Every projector running in this process: /readyz asks each whether it is alive.
    projectors: list[TopicProjector] = field(default_factory=list)


@contextlib.asynccontextmanager
async def opened(settings: Settings, *, max_size: int) -> AsyncIterator[Resources]:
    keyring = service.keyring_for(settings, "api")  # both roles seal and open secrets
    await kafka.ensure_topics(settings)
    await kafka_access.check(settings, "api")
    pool = await db.connect(settings.database_url, max_size=max_size)
    try:
        await db.migrate(pool)
        producer = kafka.producer(settings)
        await producer.start()
        try:
            store = SubscriptionStore(pool, producer, topics.subscriptions(settings), keyring)
            yield Resources(settings=settings, pool=pool, producer=producer, store=store)
        finally:
            await producer.stop()
    finally:
        await pool.close()


def readiness(r: Resources) -> dict[str, service.Check]:
    async def database() -> bool:
        return bool(await r.pool.fetchval("SELECT 1") == 1)

    async def broker() -> bool:
        # A metadata request is the cheapest call that every broker answers.
        await r.producer.client.fetch_all_metadata()
        return True

    def projectors() -> bool:
        return all(p.alive() for p in r.projectors)

    return {"database": database, "kafka": broker, "projectors": projectors}
