"""Consumer lag on the real broker: what ``LagTracker`` reports for a group's partitions."""

from __future__ import annotations

import secrets

from aiokafka import TopicPartition
from aiokafka.admin import NewTopic
from prometheus_client import REGISTRY

from hookline.core import kafka
from hookline.core.config import Settings
from hookline.core.service import LagTracker, position_lag


def lag_of(group: str, topic: str, partition: int) -> float | None:
    labels = {"group": group, "topic": topic, "partition": str(partition)}
    return REGISTRY.get_sample_value("hookline_consumer_lag", labels)


async def test_lag_is_what_the_group_has_not_committed(infra: dict[str, str]) -> None:
    settings = Settings.from_env({"HOOKLINE_KAFKA_BOOTSTRAP": infra["HOOKLINE_KAFKA_BOOTSTRAP"]})
    topic = f"hltest-lag-{secrets.token_hex(4)}"
    group = f"{topic}-group"
    admin = kafka.admin(settings)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()

    producer = kafka.producer(settings)
    await producer.start()
    try:
        for n in range(10):
            await producer.send_and_wait(topic, b"x%d" % n, partition=0)
        for n in range(4):
            await producer.send_and_wait(topic, b"y%d" % n, partition=1)
    finally:
        await producer.stop()

    p0, p1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    client = kafka.consumer(settings, group=group)
    await client.start()
    tracker = LagTracker.of(client, group, every_s=0.2)
    try:
        await kafka.assign_all(client, topic)
        await client.commit({p0: 6})  # the group finished 6 of p0's 10; p1 never committed

        assert await tracker.measure() == {p0: 4, p1: 4}
        assert lag_of(group, topic, 0) == 4 and lag_of(group, topic, 1) == 4
        assert tracker.connected()

        await client.commit({p0: 10, p1: 3})
        assert await tracker.measure() == {p0: 0, p1: 1}
        assert lag_of(group, topic, 0) == 0 and lag_of(group, topic, 1) == 1

        client.assign([p0])  # p1 moved to another process: it reports p1 from now on
        assert await tracker.measure() == {p0: 0}
        assert lag_of(group, topic, 1) is None
    finally:
        await tracker.stop()
        await client.stop()
    assert lag_of(group, topic, 0) is None


class FaustLikeConsumer:
    """The four calls ``position_lag`` makes of a Faust consumer."""

    def __init__(self) -> None:
        self.owned = {TopicPartition("ev", 0), TopicPartition("ev", 1), TopicPartition("x", 0)}

    def assignment(self) -> set[TopicPartition]:
        return self.owned

    async def highwaters(self, *tps: TopicPartition) -> dict[TopicPartition, int]:
        return {tp: 100 for tp in tps}

    async def position(self, tp: TopicPartition) -> int | None:
        return {0: 97, 1: None}[tp.partition]


async def test_a_faust_routers_lag_is_end_minus_position_on_its_topics() -> None:
    lag = await position_lag(FaustLikeConsumer(), ["ev"])
    assert lag == {TopicPartition("ev", 0): 3, TopicPartition("ev", 1): 100}
    tracker = LagTracker("hltest-faust-router", lambda: position_lag(FaustLikeConsumer(), ["ev"]))
    await tracker.measure()
    assert lag_of("hltest-faust-router", "ev", 0) == 3
    await tracker.stop()
    assert lag_of("hltest-faust-router", "ev", 0) is None
