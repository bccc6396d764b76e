"""Every topic Hookline uses, defined once with its settings.

``topic_specs`` is what the services create at start (idempotently), ``router_specs``
what the router creates for itself; ``all_specs`` is both, what a platform provisions
when Hookline may create no topic (``HOOKLINE_CREATE_TOPICS=0``), and ``unusable`` says
whether a topic found on the broker will do. The other functions give the names that
producers and consumers use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hookline.core.config import Settings
from hookline.core.retry import delay_name

QUARANTINE_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    # Below this, records would be gone before they are used (a retry before it is due).
    min_retention_ms: int | None = None

    @property
    def cleanup_policy(self) -> str:
        return self.config.get("cleanup.policy", "delete")


@dataclass(frozen=True)
class FoundTopic:
    """A topic as the broker describes it; ``config`` None when it may not be read."""

    partitions: int
    config: dict[str, str] | None


def events(settings: Settings) -> str:
    return f"{settings.topic_prefix}.events"


def subscriptions(settings: Settings) -> str:
    return f"{settings.topic_prefix}.subscriptions"


def deliveries(settings: Settings) -> str:
    return f"{settings.topic_prefix}.deliveries"


def deliveries_bulk(settings: Settings) -> str:
    """The bulk lane: a tenant's fan-out beyond its share (``hookline.core.lanes``)."""
    return f"{settings.topic_prefix}.deliveries.bulk"


def catalog(settings: Settings) -> str:
    """Event types an admin added or changed (compacted); readers fall back to the
    default catalog for every other name."""
    return f"{settings.topic_prefix}.catalog"


def sources(settings: Settings) -> str:
    """Existing topics read as events (``SourceRecord``, compacted), for the router."""
    return f"{settings.topic_prefix}.sources"


def attempts(settings: Settings) -> str:
    return f"{settings.topic_prefix}.attempts"


def dead_letters(settings: Settings) -> str:
    return f"{settings.topic_prefix}.dead-letters"


def quarantine(settings: Settings) -> str:
    """Records a consumer could not process (``Quarantined``), kept for a person to see
    and re-drive (docs/delivery.md, "Quarantine")."""
    return f"{settings.topic_prefix}.quarantine"


def routed(settings: Settings) -> str:
    """What the routers routed (``RoutedBatch``), for dropping duplicate eventIds."""
    return f"{settings.topic_prefix}.router.routed"


def batch_items(settings: Settings) -> str:
    """Items of ``format: batch`` deliveries waiting for their batch (the router's)."""
    return f"{settings.topic_prefix}.router.batch-items"


def fan_out(settings: Settings) -> str:
    """Events whose fan-out takes the bulk lane, for the router's fan-out agent."""
    return f"{settings.topic_prefix}.router.fan-out"


def retry(settings: Settings, delay_s: float) -> str:
    return f"{settings.topic_prefix}.retry.{delay_name(delay_s)}"


def retry_topics(settings: Settings) -> list[str]:
    return [retry(settings, d) for d in settings.retry_delays]


def topic_specs(settings: Settings) -> list[TopicSpec]:
    n = settings.partitions
    week_ms = str(7 * 24 * 3600 * 1000)
    specs = [
        TopicSpec(events(settings), n, {"retention.ms": week_ms}),
        TopicSpec(
            subscriptions(settings),
            n,
            {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
        ),
        TopicSpec(catalog(settings), 1, {"cleanup.policy": "compact"}),
        TopicSpec(sources(settings), 1, {"cleanup.policy": "compact"}),
        TopicSpec(deliveries(settings), n),
        TopicSpec(deliveries_bulk(settings), n),
        TopicSpec(attempts(settings), n),
        TopicSpec(dead_letters(settings), n, {"retention.ms": "-1"}),
        # Kept until re-driven or cleared by hand; a record carries the original bytes
        # (base64), so it may be larger than the message it holds.
        TopicSpec(
            quarantine(settings),
            n,
            {"retention.ms": "-1", "max.message.bytes": str(QUARANTINE_MAX_MESSAGE_BYTES)},
        ),
    ]
    # A retry topic keeps its messages at least as long as its delay, plus a day of slack.
    specs += [
        TopicSpec(
            retry(settings, d),
            n,
            {"retention.ms": str(int((d + 86400) * 1000))},
            min_retention_ms=int((d + 3600) * 1000),
        )
        for d in settings.retry_delays
    ]
    return specs


def router_specs(settings: Settings) -> list[TopicSpec]:
    """The router's own topics: the routed records live two dedup windows."""
    window_ms = int(settings.dedup_window_s * 1000)
    return [
        TopicSpec(
            routed(settings),
            settings.partitions,
            {"retention.ms": str(2 * window_ms)},
            min_retention_ms=window_ms,
        ),
        TopicSpec(batch_items(settings), settings.partitions),
        TopicSpec(fan_out(settings), settings.partitions),
    ]


def all_specs(settings: Settings) -> list[TopicSpec]:
    return topic_specs(settings) + router_specs(settings)


def unusable(spec: TopicSpec, found: FoundTopic | None) -> str | None:
    """Pure: why the topic found for ``spec`` will not do (None: it will). Any partition
    count works; the cleanup policy must be the spec's (compacting the events topic would
    drop events, deleting from a compacted one would drop subscriptions), and records
    must live long enough to be used."""
    if found is None:
        return "missing"
    if found.partitions < 1:
        return "has no partitions"
    if found.config is None:
        return None  # its configs may not be read: the partition count is all we know
    policy = found.config.get("cleanup.policy", "delete")
    if set(policy.split(",")) != set(spec.cleanup_policy.split(",")):
        return f"cleanup.policy is {policy}, must be {spec.cleanup_policy}"
    retention = int(found.config.get("retention.ms", "-1"))
    if spec.min_retention_ms is not None and 0 <= retention < spec.min_retention_ms:
        return f"retention.ms is {retention}, must be at least {spec.min_retention_ms}"
    return None


def describe(spec: TopicSpec) -> str:
    """Pure: ``name (4 partitions, cleanup.policy=compact)``, for messages and plans."""
    configs = "".join(f", {k}={v}" for k, v in sorted(spec.config.items()))
    return f"{spec.name} ({spec.partitions} partitions{configs})"
