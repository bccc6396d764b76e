"""Issue 11, rows 3 and 6, on the real stack: a delivery PostgreSQL refuses (an object
id with a NUL, written straight to ``hookline.events``) and one that raises for itself
(``InvalidSecret``: a subscription record with a malformed secret) are quarantined with
their reasons, another tenant's deliveries keep arriving, the partition's commits go
on (a restart re-sends nothing), and SIGTERM stops the deliverer promptly, also while
its PostgreSQL is down (then the delivery it held is made after the restart)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from router_support import eventually, subscribe, wait_drained
from test_api_publish import new_tenant

from hookline.core import kafka
from hookline.core.config import Settings
from hookline.core.kafka import assign_all, lagging
from hookline.core.messages import Delivery, Quarantined, SubscriptionRecord
from support import factories
from support.client import Api
from support.receiver import Receiver
from support.stack import Service, Stack
from support.tcpproxy import TcpProxy


def topic(stack: Stack, name: str) -> str:
    return f"{stack.env['HOOKLINE_TOPIC_PREFIX']}.{name}"


async def read_all(stack: Stack, name: str) -> list[tuple[bytes | None, bytes | None]]:
    consumer = kafka.consumer(Settings.from_env(stack.env), group=None)
    await consumer.start()
    try:
        partitions = await assign_all(consumer, topic(stack, name))
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + 20
        while await lagging(consumer, ends):
            assert time.monotonic() < deadline, f"could not read {name}"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [(r.key, r.value) for r in records]
        return found
    finally:
        await consumer.stop()


async def write(stack: Stack, name: str, key: bytes, value: bytes) -> None:
    producer = kafka.producer(Settings.from_env(stack.env))
    await producer.start()
    try:
        await producer.send_and_wait(topic(stack, name), value, key=key)
    finally:
        await producer.stop()


async def quarantined_deliveries(stack: Stack) -> list[tuple[Quarantined, Delivery]]:
    found = []
    for _, raw in await read_all(stack, "quarantine"):
        q = Quarantined.decode(raw or b"")
        # The deliverer's subscription feed quarantines subscription records too.
        if q.service == "deliverer" and q.topic.endswith(".deliveries") and q.value_b64:
            found.append((q, Delivery.decode(base64.b64decode(q.value_b64))))
    return found


async def with_a_malformed_secret(stack: Stack, sub_id: int) -> None:
    """The subscription's record again, one version on, with a secret that is not
    base64: what signing raises InvalidSecret for."""
    mine = [v for k, v in await read_all(stack, "subscriptions") if k == str(sub_id).encode()]
    record = SubscriptionRecord.decode(mine[-1] or b"")
    bad = dataclasses.replace(record, version=record.version + 1, secret="whsec_%%%not*base64%%%")
    await write(stack, "subscriptions", bad.key(), bad.encode())


async def sigterm_and_time(service: Service) -> float:
    started = time.monotonic()
    await asyncio.to_thread(service.kill, signal.SIGTERM)  # SIGKILL after 30 s
    assert service.proc is not None and service.proc.returncode != -signal.SIGKILL
    return time.monotonic() - started


async def test_poison_is_quarantined_and_the_others_keep_arriving(
    stack: Stack, admin: Api, receiver: Receiver
) -> None:
    tenant_a, api_a = await new_tenant(admin)
    _, api_b = await new_tenant(admin)
    _, api_c = await new_tenant(admin)
    await subscribe(api_a, receiver, path="/a")
    await subscribe(api_b, receiver, path="/b")
    bad_secret = await subscribe(api_c, receiver, path="/c")
    await with_a_malformed_secret(stack, bad_secret["id"])
    await asyncio.sleep(1)  # the deliverer's feed applies it

    # Row 3: an object id with a NUL, as a producer writing to Kafka could send it.
    nul = factories.event(
        event_id="nul-1",
        tenant=tenant_a,
        event="product.update",
        id="a\x00b",
        occurred_at=time.time(),
    )
    await write(stack, "events", nul.key(), nul.encode())
    # Row 6: the malformed secret raises InvalidSecret while the request is signed.
    await api_c.call("POST", "/v2/event/publish", {"event": "product.update", "id": 5})
    for n in range(5):  # the others: tenant B, and tenant A's well-formed events
        sent = time.monotonic()
        for api in (api_a, api_b):
            event = {"event": "product.update", "id": n, "value": {"id": n}}
            assert (await api.call("POST", "/v2/event/publish", event))[0] == 202
        await receiver.wait_for(2 * (n + 1), timeout_s=10)
        assert time.monotonic() - sent < 10
    await wait_drained(stack)  # every group committed everything: no partition held

    found = await quarantined_deliveries(stack)
    reasons = {d.subscription_id: q.reason for q, d in found}
    by_object = {d.object_id: q for q, d in found}
    assert "a\x00b" in by_object, found
    assert "0x00" in by_object["a\x00b"].reason or "\\u0000" in by_object["a\x00b"].reason
    assert reasons[bad_secret["id"]].startswith("InvalidSecret"), reasons
    assert not [r for r in receiver.received if r.path == "/c"]  # not sent unsigned either
    assert sorted(orjson.loads(r.body)["id"] for r in receiver.received if r.path == "/b") == [
        0,
        1,
        2,
        3,
        4,
    ]

    deliverer = stack.services["deliverer"]
    assert await sigterm_and_time(deliverer) < 15
    await asyncio.to_thread(deliverer.start)
    await asyncio.to_thread(deliverer.wait_healthy)
    await asyncio.sleep(3)  # a restart that re-read the partitions would re-send by now
    assert len([r for r in receiver.received if r.path in ("/a", "/b")]) == 10
    assert len(await quarantined_deliveries(stack)) == len(found)  # not quarantined again


@dataclasses.dataclass
class Swapped:
    deliverer: Service
    proxy: TcpProxy


async def deliverer_behind_a_proxy(stack: Stack) -> AsyncIterator[Swapped]:
    """The session's deliverer stopped, and one in its place that reaches PostgreSQL
    through a proxy the test can cut; the session's is back afterwards."""
    own = stack.services["deliverer"]
    await asyncio.to_thread(own.kill, signal.SIGTERM)
    proxy = TcpProxy.for_url(stack.env["HOOKLINE_DATABASE_URL"])
    await proxy.start()
    env = {**own.env, "HOOKLINE_DATABASE_URL": proxy.url_through(own.env["HOOKLINE_DATABASE_URL"])}
    swapped = Service("deliverer", env, own.log.with_name("deliverer-proxied.log"))
    try:
        swapped.start()
        await asyncio.to_thread(swapped.wait_healthy)
        yield Swapped(swapped, proxy)
    finally:
        await asyncio.to_thread(swapped.kill, signal.SIGTERM)
        await proxy.stop()
        await asyncio.to_thread(own.start)
        await asyncio.to_thread(own.wait_healthy)


async def test_sigterm_while_postgresql_is_down_stops_promptly_and_loses_nothing(
    stack: Stack, tenant: Api, receiver: Receiver
) -> None:
    await subscribe(tenant, receiver, path="/down")
    swap = deliverer_behind_a_proxy(stack)
    swapped = await anext(swap)
    try:
        await swapped.proxy.cut()
        event: dict[str, Any] = {"event": "product.update", "id": 77, "value": {"id": 77}}
        assert (await tenant.call("POST", "/v2/event/publish", event))[0] == 202
        await asyncio.sleep(4)  # routed, read, and its ordering write failing
        assert not [r for r in receiver.received if r.path == "/down"]
        assert await sigterm_and_time(swapped.deliverer) < 15  # was: never, until SIGKILL
        await swapped.proxy.heal()
    finally:
        await anext(swap, None)  # the session's deliverer, which makes the delivery

    async def arrived() -> bool:
        return any(r.path == "/down" for r in receiver.received)

    await eventually(arrived, timeout_s=30)  # not committed past: made after the restart


async def test_a_target_aiohttp_cannot_send_to_is_refused_once_not_retried_for_30_hours(
    stack: Stack, admin: Api, receiver: Receiver
) -> None:
    """A soft hyphen (U+00AD) in the host of a record written straight to the topic
    (the API refuses it, 422): one REFUSED attempt, then the dead letters."""
    _, api = await new_tenant(admin)
    sub = await subscribe(api, receiver, path="/soft-hyphen")
    mine = [v for k, v in await read_all(stack, "subscriptions") if k == str(sub["id"]).encode()]
    record = SubscriptionRecord.decode(mine[-1] or b"")
    soft = dataclasses.replace(
        record, version=record.version + 1, target_url="https://exa\u00admple.com/hook"
    )
    await write(stack, "subscriptions", soft.key(), soft.encode())

    async def moved() -> bool:
        status, body = await api.call("GET", f"/v2/event/subscription/{sub['id']}")
        return status == 200 and "\u00ad" in body["value"]["targetUrl"]

    await eventually(moved)
    await asyncio.sleep(1)  # the deliverer's feed applies it too
    assert (await api.call("POST", "/v2/event/publish", {"event": "product.update", "id": 1}))[
        0
    ] == 202

    async def dead() -> bool:
        status, body = await api.call("GET", f"/v2/event/subscription/{sub['id']}/deadletters")
        return status == 200 and body["fullResultSize"] == 1

    await eventually(dead)
    logged: list[dict[str, Any]] = []

    async def attempted() -> bool:
        nonlocal logged
        status, body = await api.call("GET", f"/v2/event/subscription/{sub['id']}/attempts")
        logged = body["values"] if status == 200 else []
        return bool(logged)

    await eventually(attempted)
    [attempt] = logged  # one attempt: refused, not retried
    assert attempt["outcome"] == "REFUSED" and "target not allowed" in attempt["reason"]
    assert not [r for r in receiver.received if r.path == "/soft-hyphen"]
