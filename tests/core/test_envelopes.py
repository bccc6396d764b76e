"""Each dialect's delivery body and signature header (hookline.core.envelopes), and the
deliverer's request that carries them beside the Standard Webhooks headers."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from hookline.core import envelopes
from hookline.core.dialect_ids import booqable_id, object_id
from hookline.core.dialects import (
    BOOQABLE,
    DIALECTS,
    ORDERSPACE,
    SHAREACTOR,
    TRIPLETEX,
    formats_of,
    settle_format,
)
from hookline.core.messages import Delivery, SubscriptionRecord
from hookline.core.signing import generate_secret, verify
from hookline.deliverer.request import body_for, build
from support import factories

NOW = 1_700_000_000


def _sub(dialect: str, **overrides: Any) -> SubscriptionRecord:
    fields: dict[str, Any] = {
        "id": 12,
        "tenant": 3,
        "events": ["customer.created"],
        "secret": generate_secret(),
        "created_at": 1_499_767_018.36,
        "updated_at": 1_499_767_018.36,
        "dialect": dialect,
        "format": formats_of(dialect)[0],
    }
    fields.update(overrides)
    return factories.subscription(**fields)


def _delivery(**overrides: Any) -> Delivery:
    fields: dict[str, Any] = {
        "delivery_id": "msg_abc",
        "subscription_id": 12,
        "tenant": 3,
        "event": "customer.created",
        "object_id": 77,
        "payload": {"id": 77, "company_name": "Blue Sky"},
        "created_at": 1_700_000_000.25,
    }
    fields.update(overrides)
    return factories.delivery(**fields)


def _batch() -> Delivery:
    return _delivery(
        format="batch",
        object_id=None,
        payload={"customers": [{"id": 1}, {"id": 2}]},
        items=[{"key": "customer:1", "order": 1, "eventId": "a"}],
    )


def _independent_hmac(key: str, body: bytes) -> str:
    return hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()


def test_tripletex_bodies_are_todays() -> None:
    sub = _sub(TRIPLETEX)
    assert orjson.loads(body_for(sub, _delivery())) == {
        "subscriptionId": 12,
        "event": "customer.created",
        "id": 77,
        "value": {"id": 77, "company_name": "Blue Sky"},
    }
    assert orjson.loads(body_for(_sub(TRIPLETEX, format="batch"), _batch())) == {
        "event": "customer.created",
        "data": {"customers": [{"id": 1}, {"id": 2}]},
    }
    assert set(build(sub, _delivery(), b"{}", NOW, [sub.secret]).headers) == {
        "content-type",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }


def test_orderspace_envelope_and_signature() -> None:
    sub = _sub(ORDERSPACE)
    body = body_for(sub, _batch())
    assert orjson.loads(body) == {
        "event": "customer.created",
        "data": {"customers": [{"id": 1}, {"id": 2}]},
    }
    # A one-object delivery (made before the subscription became Orderspace's) too.
    single = orjson.loads(body_for(sub, _delivery()))
    assert single == {"event": "customer.created", "data": {"customers": [_delivery().payload]}}
    headers = build(sub, _batch(), body, NOW, [sub.secret]).headers
    assert headers["X-Orderspace-Signature"] == _independent_hmac(sub.secret, body)
    assert verify(
        sub.secret, "msg_abc", NOW, body, headers["webhook-signature"], now=NOW
    )  # and Standard Webhooks' beside it


def test_shareactor_envelope_and_signature() -> None:
    sub = _sub(SHAREACTOR)
    body = body_for(sub, _delivery())
    assert orjson.loads(body) == {
        "delivery_id": "msg_abc",
        "webhook": {"$oid": object_id(12, sub.created_at)},
        "company": {"$oid": "000000000000000000000003"},
        "created": {"$date": 1_700_000_000_250},
        "event_type": "customer.created",
        "object_id": 77,
        "data": {"id": 77, "company_name": "Blue Sky"},
    }
    headers = build(sub, _delivery(), body, NOW, [sub.secret]).headers
    assert headers["X-ShareActor-Signature"] == _independent_hmac(sub.secret, body)
    assert "webhook-signature" in headers


def test_booqable_envelope_is_json_api() -> None:
    sub = _sub(BOOQABLE)
    body = body_for(sub, _delivery())
    doc = orjson.loads(body)
    assert doc == {
        "data": {
            "id": "msg_abc",
            "type": "webhook_events",
            "attributes": {
                "event": "customer.created",
                "created_at": "2023-11-14T22:13:20.250000+00:00",
                "webhook_endpoint_id": booqable_id(12),
                "object_type": "customer",
                "object_id": 77,
                "object": {"id": 77, "company_name": "Blue Sky"},
            },
        },
        "meta": {},
    }
    uuid.UUID(doc["data"]["attributes"]["webhook_endpoint_id"])
    headers = build(sub, _delivery(), body, NOW, [sub.secret]).headers
    assert not any(h.lower().startswith("x-") for h in headers)
    assert verify(sub.secret, "msg_abc", NOW, body, headers["webhook-signature"], now=NOW)


@given(st.sampled_from(DIALECTS), st.binary(max_size=200))
def test_the_dialect_header_is_the_hmac_of_the_exact_bytes(dialect: str, body: bytes) -> None:
    sub = _sub(dialect)
    headers = envelopes.dialect_headers(sub, body)
    for value in headers.values():
        assert value == _independent_hmac(sub.secret, body)
        assert len(value) == 64
    assert bool(headers) == (dialect in (ORDERSPACE, SHAREACTOR))


def test_a_dialect_allows_only_the_formats_its_envelope_carries() -> None:
    assert settle_format(ORDERSPACE, None, "default") == "batch"
    assert settle_format(SHAREACTOR, None, "batch") == "default"
    assert settle_format(TRIPLETEX, None, "batch") == "batch"
    assert settle_format(ORDERSPACE, "default", None) is None
    assert settle_format(BOOQABLE, "default", "batch") == "default"
