"""Kafka clients set up the one way Hookline uses them, and topic creation.

aiokafka's errors are translated here into ``KafkaUnavailable`` so that callers
catch one type.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from hookline.core.config import Settings
from hookline.core.topics import topic_specs

log = logging.getLogger(__name__)


class KafkaUnavailable(RuntimeError):
    """The broker could not be reached or refused a request."""


def producer(settings: Settings, **overrides: object) -> AIOKafkaProducer:
    """A producer that waits for every in-sync replica (``acks=all``) and never duplicates."""
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "compression_type": None,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def consumer(
    settings: Settings, *topics: str, group: str | None, **overrides: object
) -> AIOKafkaConsumer:
    """A consumer whose offsets are committed by the caller, never automatically."""
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 500,
        "fetch_max_wait_ms": 100,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


async def ensure_topics(settings: Settings, timeout_s: float = 60.0) -> None:
    """Create every topic in ``topic_specs`` that does not exist yet; safe to run twice."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await _create_topics(settings)
            return
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise KafkaUnavailable(
                    f"cannot create topics on {settings.kafka_bootstrap}: {exc}"
                ) from exc
            log.info("waiting for Kafka at %s: %s", settings.kafka_bootstrap, exc)
            await asyncio.sleep(1.0)


async def _create_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name=spec.name,
                num_partitions=spec.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=spec.config,
            )
            for spec in topic_specs(settings)
            if spec.name not in existing
        ]
        if missing:
            await _create(admin, missing)
    finally:
        await admin.close()


_TOPIC_ALREADY_EXISTS = 36


async def _create(admin: AIOKafkaAdminClient, topics: Iterable[NewTopic]) -> None:
    response = await admin.create_topics(list(topics))
    # Another service may have created some at the same moment: that is the goal.
    failed = [e for e in response.topic_errors if e[1] not in (0, _TOPIC_ALREADY_EXISTS)]
    if failed:
        raise KafkaUnavailable(f"the broker refused to create topics: {failed}")


async def wait_for_broker(settings: Settings, timeout_s: float) -> None:
    await ensure_topics(settings, timeout_s)


async def assign_all(client: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Assign every partition of ``topic`` to a consumer outside any group."""
    partitions: set[int] | None = None
    for _ in range(50):  # a topic created a moment ago takes a while to reach the metadata
        # consumer.topics() fetches metadata into a copy of the cluster view; ask it directly.
        partitions = (await client._client.fetch_all_metadata()).partitions_for_topic(topic)
        if partitions:
            break
        await asyncio.sleep(0.2)
    if not partitions:
        raise KafkaUnavailable(f"topic {topic} does not exist")
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    client.assign(assigned)
    return assigned


async def lagging(client: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """Whether the consumer's position is still before ``ends`` on any partition."""
    for tp, end in ends.items():
        if await client.position(tp) < end:
            return True
    return False
