"""``format: batch`` (Orderspace): up to 50 objects of one event per signed POST."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from router_support import eventually, publish, subscribe, wait_drained

from hookline.core.signing import verify
from support.client import Api
from support.receiver import Receiver
from support.stack import Stack


def customer(n: int, event: str = "customer.created", **extra: object) -> dict[str, Any]:
    value = {"id": n, "name": f"c{n}", "email": f"c{n}@example.com", **extra}
    return {"event": event, "id": n, "value": value}


def objects(receiver: Receiver) -> list[Any]:
    return [o for r in receiver.received for o in orjson.loads(r.body)["data"]["customers"]]


async def test_objects_arrive_in_signed_batches_of_at_most_50(
    stack: Stack, tenant: Api, receiver: Receiver
) -> None:
    sub = await subscribe(
        tenant, receiver, event="customer.created", format="batch", fields="id,name"
    )
    await publish(tenant, [customer(n) for n in range(120)])

    async def all_there() -> bool:
        return len(objects(receiver)) >= 120

    await eventually(all_there, timeout_s=30)
    await wait_drained(stack)
    assert len(receiver.received) >= 3  # 120 objects need three posts at least
    for got in receiver.received:
        body = orjson.loads(got.body)
        assert list(body) == ["event", "data"] and body["event"] == "customer.created"
        assert list(body["data"]) == ["customers"]
        assert 1 <= len(body["data"]["customers"]) <= 50
        headers = {k.lower(): v for k, v in got.headers.items()}
        assert verify(
            str(sub["secret"]),
            headers["webhook-id"],
            int(headers["webhook-timestamp"]),
            got.body,
            headers["webhook-signature"],
            now=int(time.time()),
        )
    # every object once, filtered by fields
    assert sorted(objects(receiver), key=lambda o: o["id"]) == [
        {"id": n, "name": f"c{n}"} for n in range(120)
    ]


async def test_a_partial_batch_goes_out_after_the_wait(
    stack: Stack, tenant: Api, receiver: Receiver
) -> None:
    await subscribe(
        tenant, receiver, events=["customer.updated", "customer.deleted"], format="batch"
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    await publish(tenant, customer(1, "customer.updated"))
    (got,) = await receiver.wait_for(1)
    assert got.at - started < 1.0 + 4.0  # HOOKLINE_BATCH_WAIT (1s) and some slack
    assert orjson.loads(got.body)["data"]["customers"] == [customer(1)["value"]]

    await publish(tenant, {"event": "customer.deleted", "id": 1, "value": None})
    await receiver.wait_for(2)
    assert orjson.loads(receiver.received[1].body) == {
        "event": "customer.deleted",
        "data": {"customers": [{"id": 1, "deleted": True}]},
    }


async def test_quick_updates_of_one_object_never_go_back(
    stack: Stack, tenant: Api, receiver: Receiver
) -> None:
    await subscribe(tenant, receiver, event="customer.updated", format="batch")
    await publish(
        tenant, [customer(1, "customer.updated", v=v) for v in range(1, 6)] + [customer(2)]
    )
    await wait_drained(stack)
    ones = [o["v"] for o in objects(receiver) if o["id"] == 1]
    assert ones == sorted(ones) and ones[-1] == 5  # maybe coalesced, never older after newer
