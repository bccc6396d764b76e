"""``POST /v2/event/publish`` on the real stack: lists, the catalog, ``eventId``, and what
lands on ``hookline.events``."""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from hookline.core import kafka
from hookline.core.config import Settings
from hookline.core.kafka import assign_all, lagging
from hookline.core.messages import Event
from support.client import Api
from support.receiver import Receiver
from support.stack import Stack

PUBLISH = "/v2/event/publish"


async def new_tenant(admin: Api) -> tuple[int, Api]:
    status, body = await admin.call(
        "POST", "/v2/admin/tenants", {"name": f"t-{secrets.token_hex(3)}"}
    )
    assert status == 201, body
    return body["value"]["id"], admin.as_key(body["value"]["apiKey"])


async def on_topic(stack: Stack, tenant: int) -> list[tuple[bytes, Event]]:
    """Every event of ``tenant`` on the events topic now, with its key."""
    topic = f"{stack.env['HOOKLINE_TOPIC_PREFIX']}.events"
    consumer = kafka.consumer(Settings.from_env(stack.env), group=None)
    await consumer.start()
    try:
        partitions = await assign_all(consumer, topic)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[tuple[bytes, Event]] = []
        deadline = time.monotonic() + 20
        while await lagging(consumer, ends):
            assert time.monotonic() < deadline, "could not read the events topic"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for rec in records:
                    event = Event.decode(rec.value)
                    if event.tenant == tenant:
                        found.append((rec.key, event))
        return found
    finally:
        await consumer.stop()


async def test_one_event_or_a_list_of_up_to_1000(admin: Api, stack: Stack) -> None:
    tenant_id, api = await new_tenant(admin)
    status, one = await api.call(
        "POST", PUBLISH, {"event": "product.create", "id": 42, "value": {"id": 42}}
    )
    assert status == 202 and set(one["value"]) == {"eventId"}
    batch = [
        {"event": "order.update", "id": n, "version": n, "value": {"id": n, "n": n}}
        for n in range(1000)
    ]
    status, many = await api.call("POST", PUBLISH, batch)
    assert status == 202, many
    assert len(many["value"]["eventIds"]) == len(set(many["value"]["eventIds"])) == 1000

    status, too_many = await api.call("POST", PUBLISH, [*batch, batch[0]])
    assert status == 422 and "1000" in too_many["message"]
    assert (await api.call("POST", PUBLISH, []))[0] == 422

    landed = await on_topic(stack, tenant_id)
    assert len(landed) == 1001
    by_id = {e.event_id: (k, e) for k, e in landed}
    key, first = by_id[one["value"]["eventId"]]
    assert key == f"{tenant_id}:product:42".encode()
    assert (first.event, first.id, first.value) == ("product.create", 42, {"id": 42})
    key, e7 = by_id[many["value"]["eventIds"][7]]
    assert key == f"{tenant_id}:order:7".encode()
    assert (e7.event, e7.id, e7.version, e7.value) == ("order.update", 7, 7, {"id": 7, "n": 7})


async def test_names_are_checked_against_the_catalog(tenant: Api) -> None:
    status, got = await tenant.call(
        "POST",
        PUBLISH,
        [
            {"event": "product.create", "id": 1},
            {"event": "product.explode", "id": 2},
            {"event": "order.update", "id": True, "value": [1], "eventId": "", "version": "3"},
            "nope",
        ],
    )
    assert status == 422
    fields = {m["field"]: m["message"] for m in got["validationMessages"]}
    assert set(fields) == {"[1].event", "[2].id", "[2].value", "[2].eventId", "[2].version", "[3]"}
    assert "product.explode" in fields["[1].event"]
    # An event type the admin adds is publishable at once.
    name = f"gadget{secrets.token_hex(2)}.launched"
    assert (await tenant.call("POST", PUBLISH, {"event": name, "id": 1}))[0] == 422
    put = await tenant.call("PUT", f"/v2/admin/event/{name}", {"description": "x"})
    assert put[0] == 401  # a tenant is no admin


async def test_admin_catalog_entries_are_publishable(admin: Api, tenant: Api) -> None:
    name = f"gadget{secrets.token_hex(2)}.launched"
    status, got = await admin.call(
        "PUT", f"/v2/admin/event/{name}", {"description": "A gadget launched", "plural": "gadgets"}
    )
    assert status == 200 and got["value"] == {name: {"description": "A gadget launched"}}
    status, _ = await tenant.call("POST", PUBLISH, {"event": name, "id": "g-1"})
    assert status == 202
    status, entry = await tenant.call("GET", f"/v2/event/{name}")
    assert (status, entry) == (200, {"value": {name: {"description": "A gadget launched"}}})
    for bad in ("Gadget.launched", "gadget.launched%0A", "gadget"):
        status, got = await admin.call("PUT", f"/v2/admin/event/{bad}", {"description": "x"})
        assert status == 422, bad
    status, got = await admin.call("PUT", f"/v2/admin/event/{name}", {"description": "a\x00b"})
    assert status == 422


async def test_the_same_event_id_is_one_event(admin: Api, stack: Stack) -> None:
    tenant_id, api = await new_tenant(admin)
    event: dict[str, Any] = {
        "event": "product.update",
        "id": 5,
        "value": {"id": 5},
        "eventId": "evt-" + secrets.token_hex(4),
    }
    status, got = await api.call("POST", PUBLISH, [event, {**event, "value": {"id": 6}}, event])
    assert status == 202
    assert got["value"]["eventIds"] == [event["eventId"]] * 3
    status, again = await api.call("POST", PUBLISH, event)
    assert (status, again["value"]["eventId"]) == (202, event["eventId"])

    landed = await on_topic(stack, tenant_id)
    # One message from the list (the first of the repeats), one from the second call:
    # both carry the eventId and the same key, so they reach the same partition and the
    # router can recognize the repeat.
    assert len(landed) == 2
    assert {e.event_id for _, e in landed} == {event["eventId"]}
    assert {k for k, _ in landed} == {f"{tenant_id}:product:5".encode()}
    assert [e.value for _, e in landed] == [{"id": 5}, {"id": 5}]


async def test_a_delete_carries_no_value_and_tenant_must_be_ours(
    admin: Api, stack: Stack, receiver: Receiver
) -> None:
    tenant_id, api = await new_tenant(admin)
    status, _ = await api.call(
        "POST", "/v2/event/subscription", {"event": "product.delete", "targetUrl": receiver.url}
    )
    assert status == 201
    status, got = await api.call(
        "POST", PUBLISH, {"event": "product.delete", "id": 9, "value": {"id": 9}}
    )
    assert status == 202
    (delivery,) = await receiver.wait_for(1)
    body = orjson.loads(delivery.body)
    assert (body["event"], body["id"], body["value"]) == ("product.delete", 9, None)
    status, got = await api.call(
        "POST", PUBLISH, {"event": "product.delete", "id": 9, "tenant": tenant_id + 1}
    )
    assert status == 422 and got["validationMessages"][0]["field"] == "tenant"


async def test_a_repeated_event_id_is_delivered_once(tenant: Api, receiver: Receiver) -> None:
    status, _ = await tenant.call(
        "POST", "/v2/event/subscription", {"event": "product.update", "targetUrl": receiver.url}
    )
    assert status == 201
    event = {"event": "product.update", "id": 8, "value": {"id": 8}, "eventId": "evt-8-a"}
    for _ in range(2):
        assert (await tenant.call("POST", PUBLISH, event))[0] == 202
    # A later event of the same object is delivered after anything routed before it.
    later = {**event, "eventId": "evt-8-b", "value": {"id": 8, "later": True}}
    assert (await tenant.call("POST", PUBLISH, later))[0] == 202
    await receiver.wait_for(2)
    bodies = [orjson.loads(r.body)["value"] for r in receiver.received]
    assert bodies.count({"id": 8}) == 1
    assert bodies[-1] == {"id": 8, "later": True}
