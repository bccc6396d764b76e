"""The router's Faust app: topics and agents; the work is in ``route.py``.

Every worker holds every subscription: a ``SubscriptionFeed`` follows the
compacted ``hookline.subscriptions`` topic (which is itself the changelog, so no
second one is kept) into a ``SubscriptionIndex`` keyed by tenant and event type.
A ``RoutedFeed`` likewise follows the router's ``routed`` topic into ``Recent``
(event ids and object versions routed in the dedup window, ``recent.py``).

| agent | reads | writes |
| --- | --- | --- |
| ``route`` | ``hookline.events`` | deliveries, batch items, ``routed`` records, fan-outs |
| ``batch`` | batch items (``<prefix>.router.batch-items``) | batch deliveries |
| ``fan_out`` | fan-outs (``<prefix>.router.fan-out``) | bulk-lane deliveries (``fanout.py``) |

The worker joins its consumer group with a static member id (host and port), so a
restarted router gets its partitions back at once instead of after the session
timeout (Faust's ``BROKER_SESSION_TIMEOUT``, which still applies to a router that
does not come back).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
from collections.abc import Coroutine, Hashable, Mapping
from pathlib import Path
from typing import Any, cast

import faust
from aiokafka import TopicPartition
from faust.types import TP
from mode import Service

from hookline.core import metrics, service, topics
from hookline.core.config import Settings
from hookline.core.failure import retry_infra
from hookline.core.feed import CatalogFeed, SubscriptionFeed, TopicFeed
from hookline.core.kafka import ensure_topics
from hookline.core.kafka_auth import ssl_context
from hookline.core.lanes import FanoutBudget
from hookline.core.messages import Delivery, RoutedBatch
from hookline.core.quarantine import send_to_quarantine
from hookline.core.subscriptions import SubscriptionIndex
from hookline.core.unreadable import SetAside, Span
from hookline.router.consumer import App as RouterApp
from hookline.router.consumer import Consumer, take_ready
from hookline.router.fanout import BulkLane, FanOutRouter
from hookline.router.fence import CoveringFence
from hookline.router.recent import Recent, RoutedFeed, routed_topic
from hookline.router.route import Batcher, EventRouter, Fetched, Quarantine
from hookline.router.sources import SourceService

log = logging.getLogger(__name__)

BATCH_TAKE = 500  # items gathered at most before a flush; the wait bounds it otherwise
FAN_OUT_TAKE = 10  # handed-off events planned together (each may fan out to hundreds)
# Events routed together, their deliveries' acks awaited once: at most this many of
# what arrived while the batch before was routed (``consumer.take_ready``, no wait).
ROUTE_TAKE = 500
# No linger: one produce request is in flight at a time, and what is handed over
# meanwhile goes out together in the next one (``hookline.core.kafka.producer``);
# a batch's deliveries are all handed over before the producer's task runs.
PRODUCER_LINGER_S = 0.0
PRODUCER_BATCH_BYTES = 256 * 1024
# Both agents share one Faust consumer, which hands a fetch's records over one at a
# time: with 1 MiB per partition, a fetch of an events backlog (~3,000 events a
# partition) held the batch items behind it for seconds. Small fetches interleave
# the topics (docs/benchmark.md: batch format 2,958 -> 3,456 deliveries/s).
FETCH_PARTITION_BYTES = 64 * 1024


class FeedService(Service):
    """Runs the feeds inside the Faust worker's lifecycle."""

    def __init__(self, settings: Settings, feeds: list[TopicFeed], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.feeds = feeds

    async def on_start(self) -> None:
        await ensure_topics(self.settings)
        for feed in self.feeds:
            await feed.start()

    async def on_stop(self) -> None:
        for feed in self.feeds:
            await feed.stop()


def batch_items_topic(settings: Settings) -> str:
    """The router's own topic (created by Faust, as the batch agent's source)."""
    return topics.batch_items(settings)


def broker_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """The Kafka security settings as Faust's credentials, with the TLS context every
    other client uses (``hookline.core.kafka_auth``); None for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        mechanism=settings.kafka_sasl_mechanism,
        ssl_context=ssl_context(settings) if protocol == "SASL_SSL" else None,
    )


def fan_out_topic(settings: Settings) -> str:
    """The router's own topic of events whose fan-out takes the bulk lane (``fanout.py``)."""
    return topics.fan_out(settings)


def create_app(settings: Settings) -> faust.App:
    app_id = f"{settings.topic_prefix}-router"
    # Faust makes a data directory even without tables; not in the working directory.
    datadir = os.environ.get("APP_DATADIR") or str(
        Path(tempfile.gettempdir()) / "hookline-router" / app_id
    )
    Path(datadir).mkdir(parents=True, exist_ok=True)
    app = RouterApp(
        app_id,
        datadir=datadir,
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=broker_credentials(settings),
        web_host=settings.http_host,
        web_bind=settings.http_host,  # web_host only names it in URLs; Faust binds 0.0.0.0
        web_port=settings.http_port,
        store="memory://",
        topic_replication_factor=settings.replication_factor,
        topic_partitions=settings.partitions,
        # Faust creates the batch items topic unless the platform provisions topics; it
        # needs no leader topic (no on_leader task), so there is no such topic to grant.
        topic_allow_declare=settings.create_topics,
        topic_disable_leader=True,
        producer_acks=-1,
        producer_linger=PRODUCER_LINGER_S,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        consumer_auto_offset_reset="earliest",
        consumer_group_instance_id=f"{socket.gethostname()}-{settings.http_port}",
        broker_commit_interval=0.5,
        broker_max_poll_records=ROUTE_TAKE,
        consumer_max_fetch_size=FETCH_PARTITION_BYTES,
        stream_wait_empty=False,
    )
    index = SubscriptionIndex()
    subscriptions = SubscriptionFeed(settings, index, service="router")
    recent = Recent(settings.dedup_window_s)
    routed = RoutedFeed(settings, recent)
    catalog = CatalogFeed(settings, service="router")  # the plurals that name batch objects
    sources = SourceService(settings)  # existing topics read into hookline.events
    app.add_dependency(FeedService(settings, [subscriptions, routed, catalog, sources.feed]))
    app.add_dependency(sources)
    lag = service.LagTracker(
        app.conf.id, lambda: service.position_lag(app.consumer, [topics.events(settings)])
    )

    async def track_lag() -> None:
        lag.start()  # every 5 s, as a task of the worker's loop

    app.task(track_lag)
    events = _raw_topic(app, topics.events(settings))
    deliveries = _raw_topic(app, topics.deliveries(settings))
    items = _raw_topic(app, batch_items_topic(settings), partitions=settings.partitions)
    fan_outs = _raw_topic(app, fan_out_topic(settings), partitions=settings.partitions)
    bulk = _raw_topic(app, topics.deliveries_bulk(settings))

    async def fence() -> None:
        await asyncio.gather(subscriptions.fence(), routed.fence())

    quarantine = _quarantiner(app, settings)
    app.set_aside = _stubs(quarantine)
    router = EventRouter(
        index,
        CoveringFence(fence, _positions(app, topics.events(settings))),
        recent,
        send_delivery=_sender(app, deliveries),
        send_item=_sender(app, items),
        tell=_sender(app, _raw_topic(app, routed_topic(settings))),
        quarantine=quarantine,
        bulk=BulkLane(
            FanoutBudget(settings.tenant_burst, settings.tenant_rate), _sender(app, fan_outs)
        ),
    )
    batcher = Batcher(_sender(app, deliveries), router.counts, quarantine)
    fan_out_router = FanOutRouter(
        index,
        send_bulk=_sender(app, bulk),
        send_item=_sender(app, items),
        counts=router.counts,
        quarantine=quarantine,
    )
    _fan_out_agent(app, fan_outs, fan_out_router, subscriptions.ready)

    async def route(stream: faust.StreamT[bytes]) -> None:
        await subscriptions.ready.wait()
        await routed.ready.wait()
        # The events are acknowledged (and so may be committed) only once this body
        # returned, that is once every delivery of the batch is acknowledged by the
        # broker. No timer: a batch is what arrived while the last one was routed.
        async for batch in take_ready(cast(faust.Stream[bytes], stream), ROUTE_TAKE):
            await finish_before_ack(router.route_batch([_fetched(e) for e in batch]))

    async def batch(stream: faust.StreamT[bytes]) -> None:
        async for items in cast(faust.Stream[bytes], stream).take_events(
            BATCH_TAKE, within=settings.batch_wait_s
        ):
            await finish_before_ack(batcher.flush([_fetched(e) for e in items]))

    app.agent(events, name="route")(route)
    app.agent(items, name="batch")(batch)
    _pages(app, index, [subscriptions, routed], router, topics.events(settings))
    return app


def _fan_out_agent(
    app: faust.App, topic: faust.TopicT, router: FanOutRouter, ready: asyncio.Event
) -> None:
    async def fan_out(stream: faust.StreamT[bytes]) -> None:
        await ready.wait()
        async for records in take_ready(cast(faust.Stream[bytes], stream), FAN_OUT_TAKE):
            await finish_before_ack(router.route([_fetched(e) for e in records]))

    app.agent(topic, name="fan_out")(fan_out)


def _raw_topic(app: faust.App, name: str, partitions: int | None = None) -> faust.TopicT:
    """Bytes in, bytes out: messages are encoded by ``hookline.core.messages``. A topic
    given ``partitions`` is the router's own, which Faust creates."""
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
        internal=partitions is not None,
    )


def _sender(app: faust.App, topic: faust.TopicT) -> Any:
    """Straight to Faust's producer: ``Topic.send`` wraps every message in futures,
    callbacks and sensor calls the router does not use (12 % of its CPU,
    docs/benchmark.md). The topic is still declared, so Faust creates it."""
    name = topic.get_topic_name()
    started: list[Any] = []  # the producer, once started

    async def send(message: Delivery | RoutedBatch) -> Any:
        if not started:
            started.append(await app.maybe_start_producer())
        return await started[0].send(name, message.key(), message.encode(), None, None, None)

    return send


def _fetched(event: faust.EventT[bytes]) -> Fetched:
    message = event.message
    return (message.value, message.tp, message.offset, message.key)


class _FaustProducer:
    """``quarantine.Producer`` on Faust's producer (``acks=-1``, as the app's)."""

    def __init__(self, app: faust.App) -> None:
        self._app = app

    async def send_and_wait(
        self, topic: str, value: bytes | None = None, key: bytes | None = None
    ) -> Any:
        producer = await self._app.maybe_start_producer()
        return await producer.send_and_wait(topic, key, value, None, None, None)


def _quarantiner(app: faust.App, settings: Settings) -> Quarantine:
    producer = _FaustProducer(app)

    async def quarantine(fetched: Fetched, reason: str) -> None:
        value, tp, offset, key = fetched
        await send_to_quarantine(
            producer,
            settings,
            service="router",
            topic=cast(TP, tp).topic,
            partition=cast(TP, tp).partition,
            offset=offset,
            key=key,
            value=value,
            reason=reason,
        )

    return quarantine


def _stubs(quarantine: Quarantine) -> SetAside:
    """A record the consumer cannot read, quarantined as a stub: its place and why."""

    async def set_aside(tp: TopicPartition, span: Span) -> None:
        await retry_infra(
            lambda: quarantine((None, tp, span.first, None), span.reason()),
            what="router: quarantine",
        )

    return set_aside


def _positions(app: faust.App, topic: str) -> Any:
    """Where the fence's round starts: up to where the consumer handed records on, read
    on the app's loop (``Consumer.handed_over``), not a trip to Faust's consumer thread
    per partition (``position``: 3-10 ms a round on the 2-core machine, docs/benchmark.md)."""

    async def positions() -> Mapping[Hashable, int]:
        return dict(cast(Consumer, app.consumer).handed_over(topic))

    return positions


def _pages(
    app: faust.App, index: SubscriptionIndex, feeds: list[TopicFeed], r: Any, events: str
) -> None:
    async def healthz(web: Any, request: Any) -> Any:
        counts = vars(r.counts) | {"fenceRounds": r.fence.rounds, "remembered": len(r.recent)}
        # The events partitions this worker routes (what ``make bench`` waits for when
        # it starts several workers: together they hold every partition).
        owned = sum(1 for tp in app.consumer.assignment() if tp.topic == events)
        body = {"subscriptions": len(index), "eventPartitions": owned, "routed": counts}
        return web.json({"status": "ok", **body})

    async def readyz(web: Any, request: Any) -> Any:
        ready = all(f.alive() for f in feeds)  # every subscription read, and the
        body = {"ready": ready, "checks": {"subscriptions": ready}}  # events routed lately
        return web.json(body, status=200 if ready else 503)

    async def metrics_page(web: Any, request: Any) -> Any:
        body, content_type = metrics.exposition()
        return web.bytes(body, headers={"Content-Type": content_type})

    app.page("/healthz")(healthz)
    app.page("/readyz")(readyz)
    app.page("/metrics")(metrics_page)


async def finish_before_ack(work: Coroutine[Any, Any, Any]) -> None:
    """Run one batch's work to its end before Faust acknowledges the batch.

    ``take``, ``take_events`` and ``take_ready`` acknowledge a batch's events in a
    ``finally``, so also when the body was cancelled (the worker stopping) or failed:
    that would commit events that were never routed. So the work is shielded from the
    cancellation and finished; if it cannot finish, the process exits at once, before
    that ``finally`` runs, and the partition's next owner reads the events again (at
    least once).
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        try:
            await task
        except BaseException:
            _exit_unacknowledged()
        raise
    except Exception:
        _exit_unacknowledged()


def _exit_unacknowledged() -> None:
    log.critical(
        "a fetched batch could not be routed; exiting without acknowledging it", exc_info=True
    )
    logging.shutdown()
    os._exit(70)
