"""Issue 11, rows 1 and 2 (router side): an event the router cannot route is
quarantined; the router keeps routing every tenant; the poison is listed with its
reason and, re-driven fixed, is delivered."""

from __future__ import annotations

import orjson
from quarantine_support import delivered_to_another_tenant, new_tenant, quarantined, redrive, write
from router_support import bodies, eventually

from hookline.core import topics
from hookline.core.config import Settings
from hookline.core.messages import Event
from support import factories
from support.client import Api
from support.receiver import Receiver
from support.stack import Stack


def _event(tenant: int, event_id: str, value: object, object_id: int = 1) -> Event:
    return factories.event(
        event_id=event_id,
        tenant=tenant,
        event="product.update",
        id=object_id,
        occurred_at=1.0,
        value=value,
    )


def _deep(levels: int) -> object:
    value: object = "bottom"
    for _ in range(levels):
        value = [value]
    return value


async def test_an_event_with_a_null_type_is_quarantined_and_redriven_fixed(
    stack: Stack, admin: Api, receiver: Receiver
) -> None:
    tenant, tenant_id = await new_tenant(admin)
    status, _ = await tenant.call(
        "POST",
        "/v2/event/subscription",
        {"targetUrl": f"{receiver.url}/null-type", "event": "product.update"},
    )
    assert status == 201
    events = topics.events(Settings.from_env(stack.env))
    good = _event(tenant_id, "null-type-1", {"id": 1, "name": "fixed"})
    poison = orjson.dumps({**orjson.loads(good.encode()), "event": None})
    await write(stack, events, poison, good.key())

    await delivered_to_another_tenant(admin, receiver, "/null-type-other")
    [entry] = await quarantined(admin, tenant=str(tenant_id))
    assert (entry["service"], entry["topic"]) == ("router", events)
    assert "event is null" in entry["reason"]
    assert entry["value"]["event"] is None and entry["redrivenAt"] is None

    status, body = await redrive(admin, entry["id"], {"value": orjson.loads(good.encode())})
    assert status == 202, body
    assert body["value"]["redrivenAt"] is not None

    async def arrived() -> bool:
        return any(
            (b["value"] or {}).get("name") == "fixed" for b in bodies(receiver, "/null-type")
        )

    await eventually(arrived)
    status, again = await redrive(admin, entry["id"])
    assert status == 409, again


async def test_an_object_too_deep_for_a_batch_is_quarantined_not_a_crash_loop(
    stack: Stack, admin: Api, receiver: Receiver
) -> None:
    tenant, tenant_id = await new_tenant(admin)
    status, _ = await tenant.call(
        "POST",
        "/v2/event/subscription",
        {"targetUrl": f"{receiver.url}/deep", "event": "product.update", "format": "batch"},
    )
    assert status == 201
    events = topics.events(Settings.from_env(stack.env))
    deep = _event(tenant_id, "deep-1", {"id": 1, "nested": _deep(251)}, object_id=1)
    await write(stack, events, deep.encode(), deep.key())
    shallow = _event(tenant_id, "deep-2", {"id": 2, "name": "shallow"}, object_id=2)
    await write(stack, events, shallow.encode(), shallow.key())

    await delivered_to_another_tenant(admin, receiver, "/deep-other")
    entries = await quarantined(admin, tenant=str(tenant_id))
    [entry] = entries
    assert entry["service"] == "router" and "Recursion limit" in entry["reason"]

    async def shallow_arrived() -> bool:
        return any(
            o.get("name") == "shallow"
            for b in bodies(receiver, "/deep")
            for objects in b["data"].values()
            for o in objects
        )

    await eventually(shallow_arrived)

    # Fixed (not so deep) and re-driven where it was read: the router or its batch topic.
    fixed = entry["value"]
    if entry["topic"] == events:
        fixed["value"]["nested"] = "flat now"
    else:
        fixed["payload"]["nested"] = "flat now"
    status, body = await redrive(admin, entry["id"], {"value": fixed})
    assert status == 202, body

    async def fixed_arrived() -> bool:
        return any(
            o.get("nested") == "flat now"
            for b in bodies(receiver, "/deep")
            for objects in b["data"].values()
            for o in objects
        )

    await eventually(fixed_arrived)
