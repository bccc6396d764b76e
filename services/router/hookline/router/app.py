"""The router's Faust app: one agent reads ``hookline.events`` and writes deliveries.

Every worker holds every subscription: a ``SubscriptionFeed`` follows the
compacted ``hookline.subscriptions`` topic (which is itself the changelog, so no
second one is kept) into a ``SubscriptionIndex`` keyed by tenant and event type.
The agent waits for the feed to catch up before it routes its first event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import faust
from mode import Service

from hookline.core import topics
from hookline.core.config import Settings
from hookline.core.feed import SubscriptionFeed
from hookline.core.kafka import ensure_topics
from hookline.core.messages import Event, MessageError
from hookline.core.subscriptions import SubscriptionIndex
from hookline.router.matching import plan_deliveries

log = logging.getLogger(__name__)


class FeedService(Service):
    """Runs the subscription feed inside the Faust worker's lifecycle."""

    def __init__(self, settings: Settings, feed: SubscriptionFeed, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.feed = feed

    async def on_start(self) -> None:
        await ensure_topics(self.settings)
        await self.feed.start()

    async def on_stop(self) -> None:
        await self.feed.stop()


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        f"{settings.topic_prefix}-router",
        broker=f"kafka://{settings.kafka_bootstrap}",
        web_host=settings.http_host,
        web_port=settings.http_port,
        store="memory://",
        topic_replication_factor=settings.replication_factor,
        topic_partitions=settings.partitions,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=0.5,
        stream_wait_empty=False,
    )
    index = SubscriptionIndex()
    feed = SubscriptionFeed(settings, index)
    app.add_dependency(FeedService(settings, feed))
    events = app.topic(
        topics.events(settings),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    deliveries = app.topic(
        topics.deliveries(settings),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    async def route(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        await feed.ready.wait()
        async for raw in stream:
            try:
                event = Event.decode(raw)
            except MessageError:
                log.exception("skipping an undecodable event")
                continue
            planned = plan_deliveries(event, index.matching(event.tenant, event.event), time.time())
            sent = [await deliveries.send(key=d.key(), value=d.encode()) for d in planned]
            for fut in sent:
                await fut  # acknowledged by the broker before the event's offset is committed
            yield None

    app.agent(events, name="route")(route)

    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok", "subscriptions": len(index)})

    app.page("/healthz")(healthz)
    return app
