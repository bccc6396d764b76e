"""Builders for the messages tests make by hand: every field has a plain default, and a
test names only the fields it is about.

    subscription(id=5, status="DISABLED")      a SubscriptionRecord
    event(event_id="e1", value={"id": 1})      an Event
    delivery(attempt=2)                        a Delivery
"""

from __future__ import annotations

from typing import Any

from hookline.core.messages import Delivery, Event, SubscriptionRecord

T0 = 1_700_000_000.0  # a fixed creation time, so builders give the same record twice


def subscription(**fields: Any) -> SubscriptionRecord:
    """An active subscription of tenant 1 to ``product.create``."""
    values: dict[str, Any] = {
        "id": 1,
        "tenant": 1,
        "version": 1,
        "events": ["product.create"],
        "target_url": "https://example.com/hook",
        "status": "ACTIVE",
        "secret": "whsec_AAAA",
        "created_at": T0,
        "updated_at": T0,
    }
    return SubscriptionRecord(**(values | fields))


def event(**fields: Any) -> Event:
    """Tenant 1's ``product.create`` of product 1."""
    values: dict[str, Any] = {
        "event_id": "evt-1",
        "tenant": 1,
        "event": "product.create",
        "id": 1,
        "occurred_at": T0,
        "value": {"id": 1},
    }
    return Event(**(values | fields))


def delivery(**fields: Any) -> Delivery:
    """The first try of ``event()`` to ``subscription()``."""
    values: dict[str, Any] = {
        "delivery_id": "msg_1",
        "subscription_id": 1,
        "tenant": 1,
        "event": "product.create",
        "event_id": "evt-1",
        "object_id": 1,
        "payload": {"id": 1},
        "created_at": T0,
    }
    return Delivery(**(values | fields))
