"""Which deliveries one event makes: pure, so it is tested without Kafka."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from hookline.core.fields import parse_fields, project
from hookline.core.messages import Delivery, Event, SubscriptionRecord

_DELIVERY_IDS = uuid.UUID("7d1f3c2e-8a4b-4e0f-9c55-6b2a1d0e4f10")


def delivery_id(event_id: str, subscription_id: int) -> str:
    """The same event routed twice to one subscription gets the same id, so receivers
    can drop the copy by ``webhook-id``."""
    return "msg_" + uuid.uuid5(_DELIVERY_IDS, f"{event_id}:{subscription_id}").hex


def plan_deliveries(
    event: Event, subscriptions: Iterable[SubscriptionRecord], now: float
) -> list[Delivery]:
    return [
        Delivery(
            delivery_id=delivery_id(event.event_id, sub.id),
            subscription_id=sub.id,
            tenant=event.tenant,
            event=event.event,
            event_id=event.event_id,
            object_id=event.id,
            payload=project(event.value, parse_fields(sub.fields)),
            created_at=now,
        )
        for sub in subscriptions
        if sub.tenant == event.tenant and event.event in sub.events
    ]
