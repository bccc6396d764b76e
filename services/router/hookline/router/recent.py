"""What the router remembers for a while: the event ids it routed, and each object's
newest version routed, for ``HOOKLINE_DEDUP_WINDOW``.

Every event routed is also written to ``<prefix>.router.routed`` (a ``Routed``
record, the records of one batch of events in one ``RoutedBatch``; the topic keeps
records for two windows). Every router worker reads that
topic from one window back when it starts and keeps following it
(``RoutedFeed``), so a restarted router, or one that takes a partition over from
another, knows what was routed before it.

Why not a Faust table: recovering a table's changelog after a restart made Faust
skip and commit events fetched meanwhile (seen as events lost in the router's
SIGKILL test); a feed of our own keeps Faust's consumer out of it.

``Recent`` is the memory itself: plain dictionaries, entries older than the window
dropped as new ones come (``prune``), so it holds about one window of event ids.
"""

from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError

from hookline.core import kafka, topics
from hookline.core.config import Settings
from hookline.core.errors import KafkaUnavailable
from hookline.core.feed import TopicFeed
from hookline.core.messages import Event, Routed, RoutedBatch
from hookline.core.routing import dedup_key

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36


def routed_topic(settings: Settings) -> str:
    """The router's own topic (like its batch items), made by the router at start."""
    return topics.routed(settings)


class Recent:
    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._seen: dict[str, float] = {}  # dedup key -> when routed
        self._versions: dict[str, tuple[int, float]] = {}  # object -> (version, when)

    def __len__(self) -> int:
        return len(self._seen)

    def seen(self, event: Event, now: float) -> bool:
        at = self._seen.get(dedup_key(event))
        return at is not None and now - at <= self.window_s

    def newest_version(self, event: Event, now: float) -> int | None:
        if event.id is None:
            return None
        found = self._versions.get(event.key().decode())
        return found[0] if found is not None and now - found[1] <= self.window_s else None

    def remember(self, event: Event, now: float) -> Routed:
        """Called once the event's deliveries are acknowledged, never before: a router
        stopped in between routes it again rather than losing it. Returns the record
        that tells the other workers (and the next start)."""
        record = Routed(
            tenant=event.tenant,
            event_id=event.event_id,
            at=now,
            object_key=event.key().decode() if event.id is not None else None,
            version=event.version,
        )
        self.apply(record)
        return record

    def apply(self, record: Routed) -> None:
        self._seen[f"{record.tenant}:{record.event_id}"] = record.at
        if record.version is not None and record.object_key is not None:
            held = self._versions.get(record.object_key)
            if held is None or record.version >= held[0]:
                self._versions.pop(record.object_key, None)  # re-inserted last, by time
                self._versions[record.object_key] = (record.version, record.at)
        self.prune(record.at)

    def prune(self, now: float) -> None:
        """Drop entries older than the window, oldest first (they are in about the
        order they were routed, so this stops at the first one still young)."""
        cutoff = now - self.window_s
        while self._seen and next(iter(self._seen.values())) < cutoff:
            del self._seen[next(iter(self._seen))]
        while self._versions and next(iter(self._versions.values()))[1] < cutoff:
            del self._versions[next(iter(self._versions))]


class RoutedFeed(TopicFeed):
    """``<prefix>.router.routed`` from one window back, into ``Recent``."""

    name = "routed-feed"

    def __init__(self, settings: Settings, recent: Recent) -> None:
        super().__init__(settings, routed_topic(settings), service="router")
        self.recent = recent

    async def start(self) -> None:
        await ensure_routed_topic(self._settings, self.recent.window_s)
        await super().start()

    async def _seek(self, client: AIOKafkaConsumer, assigned: list[TopicPartition]) -> None:
        since_ms = int((time.time() - self.recent.window_s) * 1000)
        found = await client.offsets_for_times({tp: since_ms for tp in assigned})
        ends = await client.end_offsets(assigned)
        for tp in assigned:
            at = found.get(tp)
            client.seek(tp, ends[tp] if at is None else at.offset)

    def _apply(self, raw: bytes | None) -> None:
        if raw is not None:
            for record in RoutedBatch.decode_any(raw):
                self.recent.apply(record)


async def ensure_routed_topic(settings: Settings, window_s: float) -> None:
    """Create the topic if it is missing; it keeps records for two windows."""
    if not settings.create_topics:
        return  # the platform made it; ensure_topics checked it at start
    admin = kafka.admin(settings)
    await admin.start()
    try:
        topic = NewTopic(
            name=routed_topic(settings),
            num_partitions=settings.partitions,
            replication_factor=settings.replication_factor,
            topic_configs={"retention.ms": str(int(2 * window_s * 1000))},
        )
        response = await admin.create_topics([topic])
        failed = [e for e in response.topic_errors if e[1] not in (0, _TOPIC_ALREADY_EXISTS)]
        if failed:
            raise KafkaUnavailable(f"the broker refused to create {topic.name}: {failed}")
    except KafkaError as exc:
        raise KafkaUnavailable(f"cannot create {routed_topic(settings)}: {exc}") from exc
    finally:
        await admin.close()
