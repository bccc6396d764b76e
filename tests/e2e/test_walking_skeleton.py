"""One signed event end to end on the real broker and database."""

from __future__ import annotations

import time

import orjson

from hookline.core.signing import verify
from support.client import Api
from support.receiver import Receiver


async def subscribe(tenant: Api, receiver: Receiver, **extra: object) -> dict[str, object]:
    body = {"event": "product.create", "targetUrl": f"{receiver.url}/hook", **extra}
    status, created = await tenant.call("POST", "/v2/event/subscription", body)
    assert status == 201, created
    return dict(created["value"])


async def test_a_published_event_arrives_signed_with_the_exact_body(
    tenant: Api, receiver: Receiver
) -> None:
    sub = await subscribe(tenant, receiver)
    assert sub["version"] == 0 and sub["status"] == "ACTIVE"
    assert str(sub["secret"]).startswith("whsec_")

    status, read = await tenant.call("GET", f"/v2/event/subscription/{sub['id']}")
    assert status == 200 and read["value"]["targetUrl"] == f"{receiver.url}/hook"

    value = {"id": 42, "name": "Widget", "price": 9.5}
    status, published = await tenant.call(
        "POST", "/v2/event/publish", {"event": "product.create", "id": 42, "value": value}
    )
    assert status == 202, published

    (got,) = await receiver.wait_for(1, timeout_s=10)
    assert got.path == "/hook"
    assert orjson.loads(got.body) == {
        "subscriptionId": sub["id"],
        "event": "product.create",
        "id": 42,
        "value": value,
    }
    headers = {k.lower(): v for k, v in got.headers.items()}
    assert headers["webhook-id"].startswith("msg_")
    assert headers["webhook-signature"].startswith("v1,")
    assert verify(
        str(sub["secret"]),
        headers["webhook-id"],
        int(headers["webhook-timestamp"]),
        got.body,
        headers["webhook-signature"],
        now=int(time.time()),
    )


async def test_a_failed_delivery_is_retried_when_due(tenant: Api, receiver: Receiver) -> None:
    receiver.responder = lambda n: 500 if n == 0 else 200
    sub = await subscribe(tenant, receiver)
    status, _ = await tenant.call(
        "POST", "/v2/event/publish", {"event": "product.create", "id": 7, "value": {"id": 7}}
    )
    assert status == 202

    first, second = await receiver.wait_for(2, timeout_s=20)
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    # The first retry delay in the test settings is 1s.
    assert second.at - first.at >= 0.9
    assert orjson.loads(second.body)["subscriptionId"] == sub["id"]
