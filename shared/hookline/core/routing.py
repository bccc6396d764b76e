"""Which deliveries one event makes: pure, shared by the router and by replays.

For every subscription of the event's tenant that lists its type, the event's
``value`` is projected with the subscription's ``fields`` and becomes one
``Delivery``. A subscription with ``format: batch`` gets a batch *item* instead (the
projected object, later grouped by ``hookline.core.batches``).

Each delivery carries its version-order position (docs/ordering.md): the object it
is about (``ordering_key``, ``type:id``) and the event's offset in
``hookline.events`` (``order``). All events of one object share a partition, so
their offsets are their publication order.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from hookline.core.fields import FieldSelection, FieldsSyntaxError, parse_fields, project
from hookline.core.messages import Delivery, Event, SubscriptionRecord
from hookline.core.types import JSON

log = logging.getLogger(__name__)

BATCH = "batch"
DEFAULT = "default"

_DELIVERY_IDS = uuid.UUID("7d1f3c2e-8a4b-4e0f-9c55-6b2a1d0e4f10")


def delivery_id(event_id: str, subscription_id: int, replay_id: str | None = None) -> str:
    """The same event routed twice to one subscription gets the same id, so receivers
    can drop the copy by ``webhook-id``; a replay gets new ids, so they do not."""
    name = f"{event_id}:{subscription_id}"
    if replay_id is not None:
        name += f":{replay_id}"
    return "msg_" + uuid.uuid5(_DELIVERY_IDS, name).hex


def dedup_key(event: Event) -> str:
    """Event ids are chosen by producers, so they are unique per tenant only."""
    return f"{event.tenant}:{event.event_id}"


def ordering_key(event: Event, replay_id: str | None = None) -> str | None:
    """The object an event is about; None when it is about no object (no ``id``).

    A replay orders its own deliveries among themselves (docs/replay.md), so its keys
    are apart from the live ones."""
    if event.id is None:
        return None
    key = f"{event.object_type}:{event.id}"
    return key if replay_id is None else f"replay:{replay_id}:{key}"


def is_stale(event: Event, newest_version: int | None) -> bool:
    """An event older than a version of its object already routed (producers racing)."""
    return (
        event.version is not None
        and event.id is not None
        and newest_version is not None
        and event.version < newest_version
    )


def matches(event: Event, sub: SubscriptionRecord) -> bool:
    return sub.tenant == event.tenant and event.event in sub.events


def batch_object(event: Event, projected: JSON) -> JSON:
    """One object of a batch body; a delete (``value: null``) is its id, marked deleted."""
    if projected is None:
        return {"id": event.id, "deleted": True}
    return projected


def _selection(sub: SubscriptionRecord) -> FieldSelection | None:
    try:
        return parse_fields(sub.fields)
    except FieldsSyntaxError:
        # The API refuses such a subscription; one that got onto the topic anyway must
        # not stop routing for everyone, so it gets the whole object.
        log.warning("subscription %s has a bad fields expression", sub.id)
        return None


def plan_deliveries(
    event: Event,
    subscriptions: Iterable[SubscriptionRecord],
    now: float,
    *,
    order: int | None = None,
    replay_id: str | None = None,
) -> list[Delivery]:
    """One delivery (or batch item) per matching subscription, in the order given.

    ``order`` is the event's offset in its ``hookline.events`` partition; without it
    the deliveries are not version-ordered."""
    key = ordering_key(event, replay_id) if order is not None else None
    planned = []
    for sub in subscriptions:
        if not matches(event, sub):
            continue
        payload = project(event.value, _selection(sub))
        batch = sub.format == BATCH
        planned.append(
            Delivery(
                delivery_id=delivery_id(event.event_id, sub.id, replay_id),
                subscription_id=sub.id,
                tenant=event.tenant,
                event=event.event,
                event_id=event.event_id,
                object_id=event.id,
                payload=batch_object(event, payload) if batch else payload,
                created_at=now,
                ordering_key=key,
                order=order if key is not None else None,
                format=BATCH if batch else DEFAULT,
            )
        )
    return planned
