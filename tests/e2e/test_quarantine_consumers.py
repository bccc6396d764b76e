"""Issue 11, rows 4 and 5, and the retry scheduler: a record a projector, a feed or the
scheduler cannot process is quarantined with its reason; every other tenant goes on;
re-driven fixed, nothing is lost."""

from __future__ import annotations

import asyncio
import random
import time
import urllib.request

import orjson
from quarantine_support import delivered_to_another_tenant, new_tenant, quarantined, redrive, write
from router_support import bodies, eventually

from hookline.core import topics
from hookline.core.config import Settings
from support import factories
from support.client import Api
from support.receiver import Receiver
from support.stack import Stack


async def _subscribe(tenant: Api, receiver: Receiver, path: str) -> int:
    status, body = await tenant.call(
        "POST",
        "/v2/event/subscription",
        {"targetUrl": f"{receiver.url}{path}", "event": "product.update"},
    )
    assert status == 201, body
    return int(body["value"]["id"])


async def _attempts(tenant: Api, sub_id: int) -> list[dict[str, object]]:
    status, body = await tenant.call("GET", f"/v2/event/subscription/{sub_id}/attempts")
    assert status == 200, body
    return list(body["values"])


async def test_a_nul_in_an_event_id_keeps_no_other_attempt_out_of_the_log(
    stack: Stack, admin: Api, receiver: Receiver
) -> None:
    tenant, tenant_id = await new_tenant(admin)
    sub_id = await _subscribe(tenant, receiver, "/nul-id")
    other, _ = await new_tenant(admin)
    other_sub = await _subscribe(other, receiver, "/nul-id-other")
    settings = Settings.from_env(stack.env)
    poison = factories.event(
        event_id="bad\u0000id",
        tenant=tenant_id,
        event="product.update",
        id=7,
        occurred_at=time.time(),
        value={"id": 7},
    )
    await write(stack, topics.events(settings), poison.encode(), poison.key())
    status, _ = await other.call("POST", "/v2/event/publish", {"event": "product.update", "id": 8})
    assert status == 202

    [entry] = await quarantined(admin, tenant=str(tenant_id), topic=topics.attempts(settings))
    assert entry["service"] == "api" and "0x00" in entry["reason"]

    async def others_logged() -> bool:
        return len(await _attempts(other, other_sub)) == 1

    await eventually(others_logged)  # the other tenant's attempt reached the log
    assert await _attempts(tenant, sub_id) == []

    fixed = entry["value"]
    fixed["event_id"] = "bad-id"
    status, body = await redrive(admin, entry["id"], {"value": fixed})
    assert status == 202, body

    async def logged() -> bool:
        return [a["eventId"] for a in await _attempts(tenant, sub_id)] == ["bad-id"]

    await eventually(logged)


def _ready(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as rsp:
            return int(rsp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def test_a_subscription_with_null_events_is_quarantined_and_every_feed_goes_on(
    stack: Stack, admin: Api, receiver: Receiver
) -> None:
    tenant, tenant_id = await new_tenant(admin)
    settings = Settings.from_env(stack.env)
    sub_id = random.randint(10**12, 2 * 10**12)  # apart from the ids the API gives
    fixed = factories.subscription(
        id=sub_id,
        tenant=tenant_id,
        events=["product.update"],
        target_url=f"{receiver.url}/null-events",
        secret="whsec_bnVsbGV2ZW50c251bGxldmVudHM=",
        created_at=time.time(),
        updated_at=time.time(),
    )
    poison = orjson.dumps({**orjson.loads(fixed.encode()), "events": None})
    await write(stack, topics.subscriptions(settings), poison, fixed.key())

    entries = await quarantined(admin, tenant=str(tenant_id))

    async def all_three() -> bool:
        nonlocal entries
        entries = await quarantined(admin, tenant=str(tenant_id))
        return {e["service"] for e in entries} == {"api", "router", "deliverer"}

    await eventually(all_three)
    assert all("events is null" in e["reason"] for e in entries)
    assert "bnVsbGV2ZW50c251bGxldmVudHM" not in orjson.dumps(entries).decode()
    for name in ("router", "deliverer", "api"):
        assert _ready(stack.services[name].port) == 200, name

    # Fences still complete: a subscription made now gets an event published now.
    await delivered_to_another_tenant(admin, receiver, "/null-events-other")

    api_entry = next(e for e in entries if e["service"] == "api")
    status, body = await redrive(admin, api_entry["id"], {"value": orjson.loads(fixed.encode())})
    assert status == 202, body

    async def readable() -> bool:
        status, _ = await tenant.call("GET", f"/v2/event/subscription/{sub_id}")
        return status == 200

    await eventually(readable)
    status, _ = await tenant.call("POST", "/v2/event/publish", {"event": "product.update", "id": 3})
    assert status == 202

    async def delivered() -> bool:
        return len(bodies(receiver, "/null-events")) >= 1

    await eventually(delivered)


async def test_the_retry_scheduler_quarantines_what_it_cannot_read_and_goes_on(
    stack: Stack, admin: Api, receiver: Receiver
) -> None:
    tenant, tenant_id = await new_tenant(admin)
    sub_id = await _subscribe(tenant, receiver, "/retry-junk")
    settings = Settings.from_env(stack.env)
    delay_topic = topics.retry_topics(settings)[0]
    junk = orjson.dumps({"v": 1, "tenant": tenant_id, "delivery_id": 5})
    await write(stack, delay_topic, junk, str(sub_id).encode())
    due = factories.delivery(
        delivery_id="msg_retry_junk",
        subscription_id=sub_id,
        tenant=tenant_id,
        event="product.update",
        event_id="retry-junk",
        payload={"id": 1, "after": "junk"},
        created_at=time.time(),
        attempt=1,
        due_at=time.time(),
    )
    # On the partition the junk went to, so that it has to get past it.
    await write(stack, delay_topic, due.encode(), str(sub_id).encode())

    [entry] = await quarantined(admin, tenant=str(tenant_id))
    assert (entry["service"], entry["topic"]) == ("retry-scheduler", delay_topic)
    assert "delivery_id is an integer" in entry["reason"]

    async def delivered() -> bool:
        return any(
            b.get("value", {}).get("after") == "junk" for b in bodies(receiver, "/retry-junk")
        )

    await eventually(delivered)
    await asyncio.sleep(0)  # nothing else: the junk is not re-driven, only seen


async def test_the_quarantine_list_is_admin_only_and_checks_its_filters(admin: Api) -> None:
    anonymous = admin.as_key("hl_not_the_admin_token")
    status, _ = await anonymous.call("GET", "/v2/admin/quarantine")
    assert status == 401
    status, body = await admin.call("GET", "/v2/admin/quarantine?redriven=maybe")
    assert status == 422 and "redriven" in str(body)
    status, body = await admin.call("GET", "/v2/admin/quarantine?count=5000")
    assert status == 422
    status, body = await admin.call("POST", "/v2/admin/quarantine/999999999/redrive")
    assert status == 404, body
    status, body = await admin.call("POST", "/v2/admin/quarantine/1/redrive", {"nope": 1})
    assert status == 422, body
