"""Every topic Hookline uses, defined once with its settings.

``topic_specs`` is what the services create at start (idempotently); the other
functions give the names that producers and consumers use.
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


def events(settings: Settings) -> str:
    return f"{settings.topic_prefix}.events"


def subscriptions(settings: Settings) -> str:
    return f"{settings.topic_prefix}.subscriptions"


def deliveries(settings: Settings) -> str:
    return f"{settings.topic_prefix}.deliveries"


def catalog(settings: Settings) -> str:
    """Event types an admin added or changed (compacted); readers fall back to the
    default catalog for every other name."""
    return f"{settings.topic_prefix}.catalog"


def attempts(settings: Settings) -> str:
    return f"{settings.topic_prefix}.attempts"


def dead_letters(settings: Settings) -> str:
    return f"{settings.topic_prefix}.dead-letters"


def quarantine(settings: Settings) -> str:
    """Records a consumer could not process (``Quarantined``), kept for a person to see
    and re-drive (docs/delivery.md, "Quarantine")."""
    return f"{settings.topic_prefix}.quarantine"


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
        TopicSpec(deliveries(settings), n),
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
        TopicSpec(retry(settings, d), n, {"retention.ms": str(int((d + 86400) * 1000))})
        for d in settings.retry_delays
    ]
    return specs
