"""Each dialect's delivery body and signature header: pure, for the deliverer (the one
place a delivery's body is made).

- tripletex: ``{"subscriptionId", "event", "id", "value"}`` (batch: Orderspace's).
- orderspace: ``{"event", "data": {<plural>: [objects]}}`` (up to 50 objects),
  signed in ``X-Orderspace-Signature``.
- shareactor: ``{"delivery_id", "webhook": {"$oid"}, "company": {"$oid"}, "created":
  {"$date"}, "event_type", "object_id", "data"}``, signed in ``X-ShareActor-Signature``.
- booqable: JSON:API, ``{"data": {"id", "type": "webhook_events", "attributes":
  {"event", "created_at", "webhook_endpoint_id", "object_type", "object_id",
  "object"}}, "meta": {}}``; no header of its own.

Every delivery also carries the Standard Webhooks headers (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``), made by ``hookline.core.signing``.

The dialect headers are hex HMAC-SHA256 of the raw body, keyed with the bytes of the
secret as the dialect's API shows it (``signing_key``, ``secret``: the whole
``whsec_…`` text, UTF-8). Only the current secret signs them; during a rotation's
overlap the previous one signs ``webhook-signature`` only.

A batch delivery made before its subscription changed to a one-object dialect is
sent whole, in Orderspace's envelope: a body is never split after it was made.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from hookline.core.catalog import plural_for
from hookline.core.dialect_ids import booqable_id, object_id, tenant_object_id
from hookline.core.dialects import BOOQABLE, ORDERSPACE, SHAREACTOR, TRIPLETEX
from hookline.core.messages import Delivery, SubscriptionRecord
from hookline.core.routing import BATCH

ORDERSPACE_HEADER = "X-Orderspace-Signature"
SHAREACTOR_HEADER = "X-ShareActor-Signature"


def hmac_hex(key: str, body: bytes) -> str:
    """Lowercase hex of HMAC-SHA256(key as UTF-8, body): 64 characters."""
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def tripletex_body(delivery: Delivery) -> bytes:
    """Tripletex's (the native) body; a batch delivery in Orderspace's envelope."""
    if delivery.format == BATCH:
        return orderspace_body(delivery)
    return orjson.dumps(
        {
            "subscriptionId": delivery.subscription_id,
            "event": delivery.event,
            "id": delivery.object_id,
            "value": delivery.payload,
        }
    )


def orderspace_body(delivery: Delivery) -> bytes:
    """``{"event", "data": {<plural>: [objects]}}``: a batch's payload is ``data``
    already (``hookline.core.batches``); one object made before the subscription
    became Orderspace's is put in a list of one."""
    data = delivery.payload
    if delivery.format != BATCH:
        data = {plural_for(delivery.event): [delivery.payload]}
    return orjson.dumps({"event": delivery.event, "data": data})


def shareactor_body(sub: SubscriptionRecord, delivery: Delivery) -> bytes:
    return orjson.dumps(
        {
            "delivery_id": delivery.delivery_id,
            "webhook": {"$oid": object_id(sub.id, sub.created_at)},
            "company": {"$oid": tenant_object_id(sub.tenant)},
            "created": {"$date": round(delivery.created_at * 1000)},
            "event_type": delivery.event,
            "object_id": delivery.object_id,
            "data": delivery.payload,
        }
    )


def booqable_body(sub: SubscriptionRecord, delivery: Delivery) -> bytes:
    created = datetime.fromtimestamp(delivery.created_at, UTC).isoformat(timespec="microseconds")
    return orjson.dumps(
        {
            "data": {
                "id": delivery.delivery_id,
                "type": "webhook_events",
                "attributes": {
                    "event": delivery.event,
                    "created_at": created,
                    "webhook_endpoint_id": booqable_id(sub.id),
                    "object_type": delivery.event.split(".", 1)[0],
                    "object_id": delivery.object_id,
                    "object": delivery.payload,
                },
            },
            "meta": {},
        }
    )


_ONE_OBJECT: dict[str, Callable[[SubscriptionRecord, Delivery], bytes]] = {
    SHAREACTOR: shareactor_body,
    BOOQABLE: booqable_body,
}


def body(sub: SubscriptionRecord, delivery: Delivery) -> bytes:
    """The request body of ``delivery`` in the envelope of ``sub``'s dialect."""
    if sub.dialect == TRIPLETEX:  # first: the native path pays one comparison
        return tripletex_body(delivery)
    if sub.dialect == ORDERSPACE or delivery.format == BATCH:
        return orderspace_body(delivery)
    one = _ONE_OBJECT.get(sub.dialect)
    return tripletex_body(delivery) if one is None else one(sub, delivery)


_HEADERS: dict[str, str] = {ORDERSPACE: ORDERSPACE_HEADER, SHAREACTOR: SHAREACTOR_HEADER}
_SIGNERS: dict[str, Callable[[str, bytes], str]] = {ORDERSPACE: hmac_hex, SHAREACTOR: hmac_hex}


def dialect_headers(sub: SubscriptionRecord, raw_body: bytes) -> dict[str, str]:
    """The dialect's own signature header, if it has one."""
    name = _HEADERS.get(sub.dialect)
    if name is None:
        return {}
    return {name: _SIGNERS[sub.dialect](sub.secret, raw_body)}
