"""Batch deliveries (Orderspace's format): pure, shared by the router and by replays.

A subscription with ``format: batch`` receives up to ``MAX_BATCH`` objects of one
event type per request::

    {"event": "customer.created", "data": {"customers": [{...}, {...}]}}

``build_batches`` groups batch items (one ``Delivery`` per object, as
``hookline.core.routing`` plans them) by subscription and event type, keeps only
the latest item of an object that occurs twice (Tripletex's "skips over a version
but sends the latest"), and cuts each group into batches. The plural comes from
the catalog (``plural_for``): an admin's plural reaches processes without the
database through ``hookline.catalog``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from hookline.core.catalog import plural_for
from hookline.core.messages import Delivery
from hookline.core.routing import BATCH

MAX_BATCH = 50

_BATCH_IDS = uuid.UUID("2b0c9f7e-51d4-4a8e-8f0a-3c6e9b1d7a25")


def batch_id(item_ids: Iterable[str]) -> str:
    """The same items make the same id, so a batch routed again is the same delivery."""
    return "msg_" + uuid.uuid5(_BATCH_IDS, ",".join(item_ids)).hex


def plural(event: str) -> str:
    return plural_for(event)


def coalesce(items: Iterable[Delivery]) -> list[Delivery]:
    """Keep, per object, only its item with the highest ``order``, at that item's place.

    Items without an ``ordering_key`` are about no object and are all kept."""
    kept: dict[object, Delivery] = {}
    for n, item in enumerate(items):
        key: object = item.ordering_key if item.ordering_key is not None else n
        held = kept.get(key)
        if held is not None and (held.order or 0) > (item.order or 0):
            continue
        kept.pop(key, None)  # re-inserted last, where the newer item came
        kept[key] = item
    return list(kept.values())


def build_batches(
    items: Iterable[Delivery], now: float, max_size: int = MAX_BATCH
) -> list[Delivery]:
    """Batch deliveries for ``items``, grouped by subscription and event type, each
    group in arrival order and cut into batches of at most ``max_size`` objects."""
    batches = []
    for group in _groups(items):
        kept = coalesce(group)
        for start in range(0, len(kept), max_size):
            batches.append(batch_of(kept[start : start + max_size], now))
    return batches


def split_full(
    items: Iterable[Delivery], max_size: int = MAX_BATCH
) -> tuple[list[Delivery], list[Delivery]]:
    """Split ``items`` into those that fill whole batches and the rest, per subscription
    and event type: of each group, the first ``max_size * n`` items (n as large as
    fits) go into the first list, the group's tail of fewer than ``max_size`` into the
    second. Both keep arrival order; the tail is the newest of its group."""
    full: list[Delivery] = []
    rest: list[Delivery] = []
    for group in _groups(items):
        cut = len(group) - len(group) % max_size
        full += group[:cut]
        rest += group[cut:]
    return full, rest


def _groups(items: Iterable[Delivery]) -> Iterable[list[Delivery]]:
    """The items by subscription and event type (what one batch may hold), each group
    in arrival order."""
    groups: dict[tuple[int, str], list[Delivery]] = {}
    for item in items:
        groups.setdefault((item.subscription_id, item.event), []).append(item)
    return groups.values()


def batch_of(items: Sequence[Delivery], now: float) -> Delivery:
    first = items[0]
    meta: list[dict[str, Any]] = [
        {"key": i.ordering_key, "order": i.order, "eventId": i.event_id} for i in items
    ]
    return Delivery(
        delivery_id=batch_id(i.delivery_id for i in items),
        subscription_id=first.subscription_id,
        tenant=first.tenant,
        event=first.event,
        event_id=first.event_id,
        object_id=None,
        payload={plural(first.event): [i.payload for i in items]},
        created_at=now,
        format=BATCH,
        items=meta,
    )


def objects_of(batch: Delivery) -> list[Any]:
    """The objects of a batch delivery, in order (``payload`` holds one list)."""
    payload = batch.payload
    if isinstance(payload, dict) and len(payload) == 1:
        (objects,) = payload.values()
        if isinstance(objects, list):
            return objects
    return []
