"""Feeds on the real broker: a poisonous record is quarantined and the table stays
right; a feed whose task dies turns not ready and calls ``on_death``."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import orjson

from hookline.core import kafka, topics
from hookline.core.config import Settings
from hookline.core.feed import SubscriptionFeed, TopicFeed
from hookline.core.messages import Quarantined, SubscriptionRecord
from hookline.core.quarantine import original
from hookline.core.subscriptions import SubscriptionIndex
from support import factories


def _settings(infra: dict[str, str]) -> Settings:
    prefix = f"hltest-feed-{secrets.token_hex(4)}"
    return Settings.from_env({**infra, "HOOKLINE_TOPIC_PREFIX": prefix, "HOOKLINE_PARTITIONS": "1"})


def _record(sub_id: int, version: int, events: list[str]) -> SubscriptionRecord:
    return factories.subscription(
        id=sub_id,
        version=version,
        events=events,
        target_url="https://example.test/hook",
        secret="whsec_x",
        created_at=1.0,
        updated_at=1.0,
    )


async def _quarantined(settings: Settings, expected: int) -> list[Quarantined]:
    client = kafka.consumer(settings, group=None)
    await client.start()
    found: list[Quarantined] = []
    try:
        for tp in await kafka.assign_all(client, topics.quarantine(settings)):
            await client.seek_to_beginning(tp)
        for _ in range(20):
            for records in (await client.getmany(timeout_ms=300)).values():
                found += [Quarantined.decode(r.value) for r in records]
            if len(found) >= expected:
                break
    finally:
        await client.stop()
    return found


async def test_a_subscription_with_null_events_is_quarantined_and_the_index_stays_right(
    infra: dict[str, str],
) -> None:
    settings = _settings(infra)
    await kafka.ensure_topics(settings)
    poison = orjson.dumps({**orjson.loads(_record(1, 2, ["a.b"]).encode()), "events": None})
    producer = kafka.producer(settings)
    await producer.start()
    try:
        for value in (
            _record(1, 1, ["order.created"]).encode(),
            poison,
            _record(2, 1, ["x.y"]).encode(),
        ):
            await producer.send_and_wait(topics.subscriptions(settings), value, b"1")
        index = SubscriptionIndex()
        feed = SubscriptionFeed(settings, index, service="router")
        died: list[object] = []
        feed.on_death = lambda f, exc: died.append(exc)
        await feed.start()
        try:
            assert [s.id for s in index.matching(1, "order.created")] == [1]
            assert [s.id for s in index.matching(1, "x.y")] == [2]
            # Records after the poison still arrive, live.
            await producer.send_and_wait(
                topics.subscriptions(settings), _record(1, 3, ["order.paid"]).encode(), b"1"
            )
            await feed.fence()
            assert index.matching(1, "order.created") == []
            assert [s.id for s in index.matching(1, "order.paid")] == [1]
            assert feed.alive() and died == []
        finally:
            await feed.stop()
    finally:
        await producer.stop()
    [message] = await _quarantined(settings, 1)
    assert message.service == "router" and message.topic == topics.subscriptions(settings)
    assert message.offset == 1 and "events is null" in message.reason
    assert original(message)[1] == poison


class _Dying(TopicFeed):
    name = "dying-feed"

    def _apply(self, raw: bytes | None) -> None:
        if raw == b"die":
            raise MemoryError("not poison: the process cannot go on")


async def test_a_feed_whose_task_dies_is_not_ready_and_says_so(infra: dict[str, str]) -> None:
    settings = _settings(infra)
    await kafka.ensure_topics(settings)
    topic = topics.catalog(settings)
    feed = _Dying(settings, topic)
    died: asyncio.Queue[Any] = asyncio.Queue()
    feed.on_death = lambda f, exc: died.put_nowait(exc)
    await feed.start()
    producer = kafka.producer(settings)
    await producer.start()
    try:
        assert feed.alive()
        await producer.send_and_wait(topic, b"die", b"k")
        exc = await asyncio.wait_for(died.get(), 10)
        assert isinstance(exc, MemoryError)
        assert not feed.alive() and not feed.ready.is_set()
    finally:
        await producer.stop()
        await feed.stop()
