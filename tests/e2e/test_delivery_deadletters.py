"""Dead letters after the last retry: listed, then redelivered one by one or all at once."""

from __future__ import annotations

from typing import Any

import orjson

from support.client import Api
from support.receiver import Receiver
from support.scripted import attempts, eventually, header, publish, subscribe


async def test_dead_letters_are_listed_and_redelivered_with_a_fresh_schedule(
    tenant: Api, receiver: Receiver
) -> None:
    failing = True
    receiver.responder = lambda _n: 500 if failing else 200
    sub = await subscribe(tenant, f"{receiver.url}/dl", fields="id")
    await publish(tenant, [1, 2])
    path = f"/v2/event/subscription/{sub['id']}/deadletters"

    async def both_dead() -> Any:
        _, body = await tenant.call("GET", path)
        return body if body["fullResultSize"] == 2 else None

    # Four attempts each (the first and three retries of 1 s, 2 s, 3 s).
    listed = await eventually(both_dead, 20, "both deliveries are dead letters")
    assert len(receiver.received) == 8
    newest, oldest = listed["values"]
    assert newest["id"] > oldest["id"]
    for dead in listed["values"]:
        assert dead["attempts"] == 4 and dead["lastError"] == "HTTP 500"
        assert dead["redeliveredAt"] is None and dead["event"] == "product.create"
        assert dead["value"] == {"id": dead["objectId"]}

    status, _ = await tenant.call("POST", path + "/redeliver", {"id": 10**12})
    assert status == 404
    bad: object
    for bad in ({}, {"id": "x"}, {"id": 1, "all": True}, [], {"all": "yes"}):
        status, body = await tenant.call("POST", path + "/redeliver", bad)
        assert status == 422, (bad, body)

    failing = False
    status, one = await tenant.call("POST", path + "/redeliver", {"id": oldest["id"]})
    assert status == 202 and one["value"]["ids"] == [oldest["id"]], one
    again = (await receiver.wait_for(9, timeout_s=10))[8]
    assert header(again, "webhook-id") == oldest["deliveryId"]
    assert orjson.loads(again.body)["id"] == oldest["objectId"]

    status, rest = await tenant.call("POST", path + "/redeliver", {"all": True})
    assert status == 202 and rest["value"]["ids"] == [newest["id"]], rest
    assert rest["value"]["remaining"] == 0
    last = (await receiver.wait_for(10, timeout_s=10))[9]
    assert header(last, "webhook-id") == newest["deliveryId"]

    # The redelivered delivery started its attempts from 1 again, and succeeded.
    async def fresh_success() -> Any:
        log = await attempts(tenant, sub["id"], f"deliveryId={newest['deliveryId']}")
        return log["values"][0] if log["values"][0]["outcome"] == "SUCCESS" else None

    attempt = await eventually(fresh_success, 10, "the redelivery is logged")
    assert attempt["attempt"] == 1

    _, after = await tenant.call("GET", path + "?redelivered=true")
    assert after["fullResultSize"] == 2
    assert all(d["redeliveredAt"] for d in after["values"])
    _, none_left = await tenant.call("GET", path + "?redelivered=false")
    assert none_left["fullResultSize"] == 0


async def test_redelivery_needs_an_active_subscription(tenant: Api, receiver: Receiver) -> None:
    sub = await subscribe(tenant, f"{receiver.url}/off")
    await tenant.call("PUT", f"/v2/event/subscription/{sub['id']}", {"status": "DISABLED"})
    status, body = await tenant.call(
        "POST", f"/v2/event/subscription/{sub['id']}/deadletters/redeliver", {"all": True}
    )
    assert status == 409 and "PUT with status ACTIVE" in body["message"]
