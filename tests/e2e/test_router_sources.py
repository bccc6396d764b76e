"""Existing topics as sources, end to end: a producer keeps its own topic and format
(CloudEvents structured, CloudEvents binary, plain JSON), an admin defines a source
while the stack runs, and the events reach the subscribers; what cannot be mapped is
quarantined with the reason and the records after it go on."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import orjson
from aiokafka.admin import NewTopic
from quarantine_support import new_tenant, quarantined
from unreadable_support import produce_unreadable_header

from hookline.core import kafka
from hookline.core.config import Settings
from support.client import Api
from support.receiver import Receiver
from support.stack import Stack

Headers = list[tuple[str, bytes]]
STRUCTURED: Headers = [("content-type", b"application/cloudevents+json; charset=UTF-8")]


async def source_topic(
    stack: Stack, admin: Api, name: str, definition: dict[str, Any], *, poisoned: bool = False
) -> str:
    """A topic of the producer's own (not Hookline's: no ``<prefix>.``), and a source
    that reads it, put while the stack runs. A ``poisoned`` one (a record no client of
    aiokafka can read) is named outside the prefix, so that the tests that read every
    topic of the stack raw do not meet it."""
    settings = Settings.from_env(stack.env)
    topic = f"{'poisoned-' if poisoned else ''}{settings.topic_prefix}-own-{name}"
    client = kafka.admin(settings)
    await client.start()
    try:
        await client.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await client.close()
    status, body = await admin.call(
        "PUT", f"/v2/admin/sources/{name}", {"topic": topic, **definition}
    )
    assert status == 201, body
    return topic


async def produce(stack: Stack, topic: str, records: list[tuple[bytes | None, Headers]]) -> None:
    producer = kafka.producer(Settings.from_env(stack.env))
    await producer.start()
    try:
        for n, (value, headers) in enumerate(records):
            await producer.send_and_wait(topic, value, key=f"k{n % 3}".encode(), headers=headers)
    finally:
        await producer.stop()


async def subscribe(tenant: Api, receiver: Receiver, path: str, *events: str) -> int:
    body = {"events": list(events), "targetUrl": f"{receiver.url}{path}"}
    status, created = await tenant.call("POST", "/v2/event/subscription", body)
    assert status == 201, created
    return int(created["value"]["id"])


def cloudevent(tenant: int, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"ce-{n}",
        "source": "/orders",
        "type": "com.example.order.update",
        "subject": str(n),
        "hooklinetenant": str(tenant),
        "data": {"id": n, "n": n},
        **extra,
    }


async def test_structured_cloudevents_from_an_existing_topic_are_delivered(
    stack: Stack, admin: Api, receiver: Receiver
) -> None:
    tenant, tenant_id = await new_tenant(admin)
    sub = await subscribe(tenant, receiver, "/structured", "order.update")
    name = f"ce-{secrets.token_hex(3)}"
    topic = await source_topic(
        stack, admin, name, {"format": "cloudevents", "typePrefix": "com.example."}
    )
    events = [orjson.dumps(cloudevent(tenant_id, n)) for n in range(5)]
    # The same CloudEvent twice (a producer's retry): delivered once.
    await produce(stack, topic, [(e, STRUCTURED) for e in [*events, events[0]]])

    got = await receiver.wait_for(5, timeout_s=30)
    bodies = sorted((orjson.loads(r.body) for r in got), key=lambda b: b["id"])
    assert bodies == [
        {"subscriptionId": sub, "event": "order.update", "id": n, "value": {"id": n, "n": n}}
        for n in range(5)
    ]
    await asyncio.sleep(2)  # time for a copy to arrive, were it not dropped
    assert len([r for r in receiver.received if r.path == "/structured"]) == 5


async def test_binary_cloudevents_and_a_bad_record_among_them(
    stack: Stack, admin: Api, receiver: Receiver
) -> None:
    tenant, tenant_id = await new_tenant(admin)
    sub = await subscribe(tenant, receiver, "/binary", "order.create", "order.delete")
    name = f"bin-{secrets.token_hex(3)}"
    topic = await source_topic(stack, admin, name, {"format": "cloudevents"})

    def headers(n: int, kind: str, tenant: int = tenant_id, version: int = 1) -> Headers:
        attributes = {
            "specversion": "1.0",
            "id": f"{kind}-{n}",
            "source": "/orders",
            "type": kind,
            "subject": str(n),
            "hooklinetenant": str(tenant),
            "hooklineversion": str(version),
        }
        return [(f"ce_{k}", v.encode()) for k, v in attributes.items()]

    json_type = [("content-type", b"application/json")]
    records = [
        (b'{"id": 1}', [*headers(1, "order.create"), *json_type]),
        (b'{"id": 2}', headers(2, "order.create", tenant=987654321)),  # no such tenant
        (b"not json", headers(3, "order.create")),
        (None, headers(1, "order.delete", version=2)),  # a tombstone: a delete, no value
    ]
    await produce(stack, topic, records)

    got = await receiver.wait_for(2, timeout_s=30)
    assert [orjson.loads(r.body) for r in got] == [
        {"subscriptionId": sub, "event": "order.create", "id": 1, "value": {"id": 1}},
        {"subscriptionId": sub, "event": "order.delete", "id": 1, "value": None},
    ]
    deadline = time.monotonic() + 30
    found = await quarantined(admin, topic=topic)
    while len(found) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        found = await quarantined(admin, topic=topic)
    reasons = sorted(q["reason"] for q in found)
    assert len(reasons) == 2, reasons
    assert reasons[0] == f"source {name}: tenant 987654321 does not exist"
    assert reasons[1].startswith(f"source {name}: the data (the value) is not JSON")
    assert {q["tenant"] for q in found} == {"987654321", None}


async def test_plain_json_mapped_by_paths_is_delivered(
    stack: Stack, admin: Api, receiver: Receiver
) -> None:
    tenant, tenant_id = await new_tenant(admin)
    sub = await subscribe(tenant, receiver, "/json", "product.update")
    name = f"json-{secrets.token_hex(3)}"
    paths = {
        "event": "$.kind",
        "id": "$.product.sku",
        "tenant": "$.account.id",
        "version": "$.product.rev",
        "value": "$.product",
    }
    topic = await source_topic(stack, admin, name, {"format": "json", "paths": paths})
    record = {
        "kind": "product.update",
        "account": {"id": tenant_id},
        "product": {"sku": "W-1", "rev": 3, "name": "Widget"},
    }
    await produce(stack, topic, [(orjson.dumps(record), [])])

    (got,) = await receiver.wait_for(1, timeout_s=30)
    assert got.path == "/json"
    assert orjson.loads(got.body) == {
        "subscriptionId": sub,
        "event": "product.update",
        "id": "W-1",
        "value": {"sku": "W-1", "rev": 3, "name": "Widget"},
    }


async def test_a_record_whose_header_name_is_not_utf8_is_quarantined_and_the_source_goes_on(
    stack: Stack, admin: Api, receiver: Receiver
) -> None:
    tenant, tenant_id = await new_tenant(admin)
    await subscribe(tenant, receiver, "/unreadable", "order.update")
    name = f"utf-{secrets.token_hex(3)}"
    definition = {"format": "cloudevents", "typePrefix": "com.example."}
    topic = await source_topic(stack, admin, name, definition, poisoned=True)
    producer = kafka.producer(Settings.from_env(stack.env))
    await producer.start()
    try:
        for n in (1, 2):  # before the bad record, on both partitions
            value = orjson.dumps(cloudevent(tenant_id, n))
            await producer.send_and_wait(topic, value, partition=n % 2, headers=STRUCTURED)
    finally:
        await producer.stop()
    # aiokafka fails the whole fetch on this record ("'utf-8' codec can't decode"): read
    # as it was, the source would stop here for ever.
    await produce_unreadable_header(stack, topic, orjson.dumps(cloudevent(tenant_id, 3)), 0)
    after: list[tuple[bytes | None, Headers]] = [
        (orjson.dumps(cloudevent(tenant_id, n)), STRUCTURED) for n in (4, 5, 6)
    ]
    await produce(stack, topic, after)

    got = await receiver.wait_for(5, timeout_s=40)
    assert sorted(orjson.loads(r.body)["id"] for r in got) == [1, 2, 4, 5, 6]
    (stub,) = await quarantined(admin, topic=topic)
    assert (stub["partition"], stub["offset"]) == (0, 1)
    assert stub["reason"].startswith(
        f"source {name}: the record at offset 1 of partition 0 cannot be read"
    ), stub
    assert "header name is not UTF-8" in stub["reason"], stub


async def test_a_source_limited_to_a_tenant_delivers_only_as_that_tenant(
    stack: Stack, admin: Api, receiver: Receiver
) -> None:
    owner, owner_id = await new_tenant(admin)
    victim, victim_id = await new_tenant(admin)
    await subscribe(owner, receiver, "/owner", "order.update")
    await subscribe(victim, receiver, "/victim", "order.update")
    name = f"own-{secrets.token_hex(3)}"
    topic = await source_topic(
        stack,
        admin,
        name,
        {"format": "cloudevents", "typePrefix": "com.example.", "tenant": owner_id},
    )
    unnamed = cloudevent(owner_id, 1)
    del unnamed["hooklinetenant"]  # the source's tenant is its
    records: list[tuple[bytes | None, Headers]] = [
        (orjson.dumps(unnamed), STRUCTURED),
        (orjson.dumps(cloudevent(victim_id, 2)), STRUCTURED),  # claims another tenant
        (orjson.dumps(cloudevent(owner_id, 3)), STRUCTURED),
    ]
    await produce(stack, topic, records)

    got = await receiver.wait_for(2, timeout_s=30)
    assert sorted((r.path, orjson.loads(r.body)["id"]) for r in got) == [
        ("/owner", 1),
        ("/owner", 3),
    ]
    (refused,) = await quarantined(admin, topic=topic)
    assert refused["reason"] == (
        f"source {name}: hooklinetenant: tenant {victim_id} is not this source's"
        f" (it is for tenant {owner_id} only)"
    )
    assert refused["tenant"] is None
    await asyncio.sleep(1)
    assert [r for r in receiver.received if r.path == "/victim"] == []


async def test_a_source_moved_to_another_topic_delivers_the_new_topics_first_records(
    stack: Stack, admin: Api, receiver: Receiver
) -> None:
    """A JSON source without eventIds: its records' eventIds are where they are. The
    router remembers eventIds for a day, and the new topic starts at offset 0 again:
    were the place only partition and offset, its first records would be dropped as
    copies of the old topic's."""
    tenant, tenant_id = await new_tenant(admin)
    await subscribe(tenant, receiver, "/moved", "product.update")
    name = f"mv-{secrets.token_hex(3)}"
    definition = {"format": "json", "paths": {"event": "$.k", "id": "$.sku", "tenant": "$.t"}}
    first = await source_topic(stack, admin, name, definition)

    def records(*skus: str) -> list[tuple[bytes | None, Headers]]:
        return [(orjson.dumps({"k": "product.update", "sku": s, "t": tenant_id}), []) for s in skus]

    await produce(stack, first, records("a0", "a1", "a2"))
    await receiver.wait_for(3, timeout_s=30)

    settings = Settings.from_env(stack.env)
    second = f"{first}-moved"
    client = kafka.admin(settings)
    await client.start()
    try:
        await client.create_topics([NewTopic(second, 2, 1)])
    finally:
        await client.close()
    status, body = await admin.call(
        "PUT", f"/v2/admin/sources/{name}", {"topic": second, **definition}
    )
    assert status == 200, body
    await produce(stack, second, records("b0", "b1", "b2"))

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        skus = sorted(orjson.loads(r.body)["id"] for r in receiver.received if r.path == "/moved")
        if len(skus) >= 6:
            break
        await asyncio.sleep(0.3)
    assert skus == ["a0", "a1", "a2", "b0", "b1", "b2"]


async def test_cloudevents_of_two_sources_with_the_same_ids_are_all_delivered(
    stack: Stack, admin: Api, receiver: Receiver
) -> None:
    """CloudEvents are unique by source and id: three producers (two on one topic,
    one on another), each with ids ce-0 to ce-2, are nine events, not three."""
    tenant, tenant_id = await new_tenant(admin)
    await subscribe(tenant, receiver, "/ce-ids", "order.update")
    definition = {"format": "cloudevents", "typePrefix": "com.example."}
    first = await source_topic(stack, admin, f"cea-{secrets.token_hex(3)}", definition)
    second = await source_topic(stack, admin, f"ceb-{secrets.token_hex(3)}", definition)

    def events(source: str, ids_from: int) -> list[tuple[bytes | None, Headers]]:
        return [
            (
                orjson.dumps(cloudevent(tenant_id, n, source=source, subject=str(ids_from + n))),
                STRUCTURED,
            )
            for n in range(3)
        ]

    await produce(stack, first, events("/billing", 0))
    await produce(stack, second, events("/shipping", 100))
    await produce(stack, first, events("/crm", 200))

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ids = sorted(orjson.loads(r.body)["id"] for r in receiver.received if r.path == "/ce-ids")
        if len(ids) >= 9:
            break
        await asyncio.sleep(0.3)
    assert ids == [0, 1, 2, 100, 101, 102, 200, 201, 202]
