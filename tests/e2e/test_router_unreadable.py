"""Issue 11's rule on ``hookline.events`` (issue 14): a record there that aiokafka cannot
read (its header name is not UTF-8; producers may publish straight to Kafka,
docs/api.md) is quarantined as a stub, and the router goes on with the records after
it, for every tenant; a replay over it goes past it too.

On a stack of its own: the record is on its prefix's ``hookline.events``, so that
test_secrets_at_rest, which reads every record of the session stack's topics raw (and
could not read this one), and the session's router never meet it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson
import pytest_asyncio
from quarantine_support import new_tenant, quarantined
from router_support import eventually
from unreadable_support import produce_unreadable_header

from hookline.core import kafka, topics
from hookline.core.config import Settings
from support import factories
from support.client import Api
from support.receiver import Receiver
from support.stack import Stack, own_stack


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def own(infra: dict[str, str]) -> AsyncIterator[Stack]:
    async with own_stack(infra, "hookline_unreadable") as stack:
        yield stack


async def write(stack: Stack, topic: str, value: bytes, partition: int) -> None:
    producer = kafka.producer(Settings.from_env(stack.env))
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, partition=partition)
    finally:
        await producer.stop()


async def test_a_record_whose_header_name_is_not_utf8_is_quarantined_and_routing_goes_on(
    own: Stack, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    admin = Api(own.api_url, http, own.admin_token)
    tenant, tenant_id = await new_tenant(admin)
    body = {"event": "product.update", "targetUrl": f"{receiver.url}/unreadable"}
    status, created = await tenant.call("POST", "/v2/event/subscription", body)
    assert status == 201, created
    sub_id = created["value"]["id"]
    events = topics.events(Settings.from_env(own.env))

    def event(n: int) -> bytes:
        return factories.event(
            event_id=f"unreadable-{n}",
            tenant=tenant_id,
            event="product.update",
            id=n,
            occurred_at=time.time(),
        ).encode()

    await write(own, events, event(1), 0)
    await receiver.wait_for(1, timeout_s=30)
    # aiokafka fails the whole fetch on this record ("'utf-8' codec can't decode"): read
    # as Faust reads it, the router would stop here for ever, for every tenant.
    await produce_unreadable_header(own, events, event(2), 0)
    await write(own, events, event(3), 0)

    got = await receiver.wait_for(2, timeout_s=30)
    assert sorted(orjson.loads(r.body)["id"] for r in got) == [1, 3], got
    (stub,) = await quarantined(admin, topic=events)
    assert (stub["service"], stub["partition"], stub["offset"]) == ("router", 0, 1), stub
    assert stub["value"] is None, stub
    assert stub["reason"].startswith("the record at offset 1 of partition 0 cannot be read")
    assert "header name is not UTF-8" in stub["reason"], stub

    # The API's replay job reads hookline.events with aiokafka too: it goes past it.
    status, started = await tenant.call(
        "POST", f"/v2/event/subscription/{sub_id}/replay", {"since": since.isoformat()}
    )
    assert status == 202, started
    url = started["value"]["url"].removeprefix(tenant.base)
    found: dict[str, object] = {}

    async def done() -> bool:
        status, body = await tenant.call("GET", url)
        assert status == 200, body
        found.update(body["value"])
        return bool(body["value"]["status"] != "RUNNING")

    await eventually(done, timeout_s=30)
    assert (found["status"], found["replayed"]) == ("DONE", 2), found
    again = await receiver.wait_for(4, timeout_s=30)
    assert sorted(orjson.loads(r.body)["id"] for r in again[2:]) == [1, 3], again
