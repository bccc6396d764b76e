"""Deliveries in each dialect's envelope, with its signature checked by a computation
of the test's own (hashlib and hmac, not Hookline's code), and one subscription
seen, changed and deleted through every dialect."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson
from router_support import publish

from support.client import Api
from support.receiver import Received, Receiver

BQ = "/api/boomerang/webhook_endpoints"


def headers_of(got: Received) -> dict[str, str]:
    return {k.lower(): v for k, v in got.headers.items()}


def dialect_signature(key: str, body: bytes) -> str:
    """X-Orderspace-Signature / X-ShareActor-Signature: hex HMAC-SHA256 of the raw body,
    keyed with the secret's text as the dialect's API shows it."""
    return hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()


def assert_standard_webhooks(secret: str, got: Received) -> None:
    """webhook-signature: v1,base64(HMAC-SHA256(base64-decoded whsec key, id.ts.body))."""
    h = headers_of(got)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + got.body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert expected in h["webhook-signature"].split()
    assert abs(int(h["webhook-timestamp"]) - time.time()) < 300


async def whole_secret(api: Api, subscription_id: int) -> str:
    status, body = await api.call("GET", f"/v2/event/subscription/{subscription_id}/secret")
    assert status == 200
    return str(body["value"]["secret"])


async def only_native(api: Api) -> dict[str, Any]:
    status, body = await api.call("GET", "/v2/event/subscription")
    assert status == 200
    (value,) = body["values"]
    return dict(value)


def customer(n: int) -> dict[str, Any]:
    return {"event": "customer.created", "id": n, "value": {"id": n, "company_name": "Blue Sky"}}


async def test_orderspace_delivery(tenant: Api, receiver: Receiver) -> None:
    endpoint = f"{receiver.url}/orderspace#!/6e3931ec"  # a fragment, as in its example
    status, made = await tenant.call(
        "POST", "/v1/webhooks", {"webhook": {"endpoint": endpoint, "events": ["customer.created"]}}
    )
    assert status == 200, made
    await publish(tenant, [customer(1), customer(2)])
    received = await receiver.wait_for(1, timeout_s=20)
    objects = []
    for got in received:
        assert got.path == "/orderspace"  # the fragment is not sent
        body = orjson.loads(got.body)
        assert list(body) == ["event", "data"] and body["event"] == "customer.created"
        objects += body["data"]["customers"]
        h = headers_of(got)
        key = made["webhook"]["signing_key"]
        assert h["x-orderspace-signature"] == dialect_signature(key, got.body)
        assert_standard_webhooks(key, got)
    if len(objects) < 2:
        await receiver.wait_for(2, timeout_s=20)
        objects += orjson.loads(receiver.received[1].body)["data"]["customers"]
    assert sorted(o["id"] for o in objects) == [1, 2]


async def test_shareactor_delivery(tenant: Api, receiver: Receiver) -> None:
    body = {"endpoint": f"{receiver.url}/shareactor", "event_type": "order.created"}
    status, made = await tenant.call("POST", "/webhooks", body)
    assert status == 200, made
    await publish(tenant, {"event": "order.created", "id": 7, "value": {"id": 7, "number": 1204}})
    (got,) = await receiver.wait_for(1, timeout_s=20)
    h = headers_of(got)
    envelope = orjson.loads(got.body)
    assert envelope == {
        "delivery_id": h["webhook-id"],
        "webhook": made["_id"],
        "company": made["company"],
        "created": envelope["created"],
        "event_type": "order.created",
        "object_id": 7,
        "data": {"id": 7, "number": 1204},
    }
    assert abs(envelope["created"]["$date"] / 1000 - time.time()) < 60
    assert h["x-shareactor-signature"] == dialect_signature(made["secret"], got.body)
    assert_standard_webhooks(made["secret"], got)


async def test_booqable_delivery(tenant: Api, receiver: Receiver) -> None:
    attributes = {"url": f"{receiver.url}/booqable", "events": ["customer.created"]}
    body = {"data": {"type": "webhook_endpoints", "attributes": attributes}}
    status, made = await tenant.call("POST", BQ, body)
    assert status == 201, made
    await publish(tenant, customer(3))
    (got,) = await receiver.wait_for(1, timeout_s=20)
    h = headers_of(got)
    envelope = orjson.loads(got.body)
    attrs = envelope["data"]["attributes"]
    assert envelope == {
        "data": {"id": h["webhook-id"], "type": "webhook_events", "attributes": attrs},
        "meta": {},
    }
    assert {k: v for k, v in attrs.items() if k != "created_at"} == {
        "event": "customer.created",
        "webhook_endpoint_id": made["data"]["id"],
        "object_type": "customer",
        "object_id": 3,
        "object": {"id": 3, "company_name": "Blue Sky"},
    }
    assert not any(k.startswith("x-") for k in h)
    # Booqable's documents show no secret: the native API gives it.
    secret = await whole_secret(tenant, (await only_native(tenant))["id"])
    assert_standard_webhooks(secret, got)


async def test_the_native_api_changes_the_dialect(tenant: Api, receiver: Receiver) -> None:
    endpoint = f"{receiver.url}/changed"
    status, _ = await tenant.call(
        "POST", "/v1/webhooks", {"webhook": {"endpoint": endpoint, "events": ["customer.created"]}}
    )
    native = await only_native(tenant)
    path = f"/v2/event/subscription/{native['id']}"
    assert (native["dialect"], native["format"]) == ("orderspace", "batch")
    # Orderspace's envelope is the batch format: other formats are refused.
    status, answer = await tenant.call("PUT", path, {"format": "default"})
    assert status == 422 and answer["validationMessages"][0]["field"] == "format"
    status, answer = await tenant.call("PUT", path, {"dialect": "orderspace", "format": "default"})
    assert status == 422
    status, changed = await tenant.call("PUT", path, {"dialect": "shareactor"})
    assert status == 200
    assert (changed["value"]["dialect"], changed["value"]["format"]) == ("shareactor", "default")
    await publish(tenant, customer(4))
    (got,) = await receiver.wait_for(1, timeout_s=20)
    assert orjson.loads(got.body)["event_type"] == "customer.created"
    secret = await whole_secret(tenant, native["id"])
    assert headers_of(got)["x-shareactor-signature"] == dialect_signature(secret, got.body)
    status, answer = await tenant.call("PUT", path, {"dialect": "klingon"})
    assert status == 422


async def test_one_subscription_through_every_dialect(tenant: Api) -> None:
    endpoint = "https://example.com/one"
    status, made = await tenant.call(
        "POST", "/v1/webhooks", {"webhook": {"endpoint": endpoint, "events": ["order.created"]}}
    )
    assert status == 200
    # Seen through the native API, ShareActor's and Booqable's.
    native = await only_native(tenant)
    assert (native["targetUrl"], native["events"]) == (endpoint, ["order.created"])
    status, shared = await tenant.call("GET", "/webhooks")
    (sa,) = shared
    assert (sa["endpoint"], sa["event_type"], sa["secret"]) == (
        endpoint,
        "order.created",
        made["webhook"]["signing_key"],
    )
    status, doc = await tenant.call("GET", BQ)
    (bq,) = doc["data"]
    assert bq["attributes"]["url"] == endpoint
    # Changed through ShareActor, then Booqable; each change seen everywhere.
    oid = sa["_id"]["$oid"]
    status, _ = await tenant.call(
        "PUT", f"/webhooks/{oid}", {"endpoint": "https://example.com/two"}
    )
    assert status == 200
    status, read = await tenant.call("GET", f"/v1/webhooks/{made['webhook']['id']}")
    assert read["webhook"]["endpoint"] == "https://example.com/two"
    put = {
        "data": {
            "type": "webhook_endpoints",
            "id": bq["id"],
            "attributes": {"events": ["order.updated", "order.created"]},
        }
    }
    status, _ = await tenant.call("PUT", f"{BQ}/{bq['id']}", put)
    assert status == 200
    status, read = await tenant.call("GET", f"/webhooks/{oid}")
    assert (read["event_type"], read["event_types"]) == (
        "order.updated",
        ["order.updated", "order.created"],
    )
    native = await only_native(tenant)
    assert (native["events"], native["version"], native["dialect"]) == (
        ["order.updated", "order.created"],
        2,
        "orderspace",  # changes through other dialects keep the envelope
    )
    # Deleted through Booqable: gone from all of them.
    status, _ = await tenant.call("DELETE", f"{BQ}/{bq['id']}")
    assert status == 200
    assert (await tenant.call("GET", f"/v1/webhooks/{made['webhook']['id']}"))[0] == 404
    assert (await tenant.call("GET", f"/webhooks/{oid}"))[0] == 404
    assert (await tenant.call("GET", f"/v2/event/subscription/{native['id']}"))[0] == 404
    assert (await tenant.call("GET", "/v1/webhooks"))[1] == {"webhooks": []}
