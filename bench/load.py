"""The bench's load: tenants and subscriptions through the API, events into Kafka.

Two shapes of subscription set (``Plan``): *spread* (the default) makes K tenants with
one subscription each and gives event i to tenant i mod K, so every event is one
delivery and the deliveries spread over K partition keys; *fanout* makes one tenant
with K subscriptions to the same event type, so every event is K deliveries.

Events go straight to ``<prefix>.events`` with aiokafka (the documented schema,
``hookline.core.messages.Event``, keyed by ``Event.key()``), or through
``POST /v2/event/publish`` in lists of 1,000.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from bench import http1
from hookline.core import kafka
from hookline.core.config import Settings
from hookline.core.messages import Delivery, Event

EVENT = "product.create"
HTTP_BATCH = 1000


class Unsupported(RuntimeError):
    """The stack refused the subscription settings a run needs (e.g. ``format: batch``)."""


@dataclass
class Plan:
    subs: int
    fanout: bool
    # per subscription index: (tenant id, API key)
    tenants: list[tuple[int, str]] = field(default_factory=list)
    sub_ids: list[int] = field(default_factory=list)

    def owner(self, obj: int) -> int:
        """The tenant slot an event belongs to."""
        return 0 if self.fanout else obj % self.subs

    def expected_subs(self, obj: int) -> Iterable[int]:
        return range(self.subs) if self.fanout else (obj % self.subs,)


async def api_call(
    http: aiohttp.ClientSession, method: str, url: str, token: str, body: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    async with http.request(method, url, data=orjson.dumps(body), headers=headers) as rsp:
        raw = await rsp.read()
        return rsp.status, orjson.loads(raw) if raw else None


async def make_plan(
    http: aiohttp.ClientSession,
    api_url: str,
    admin_token: str,
    receiver_urls: list[str],
    *,
    subs: int,
    fanout: bool,
    fmt: str,
    first_path: int = 0,
) -> Plan:
    """Create the tenants and subscriptions; subscription n posts to ``/s/<first_path+n>``
    on receiver port n mod len(receiver_urls)."""
    plan = Plan(subs, fanout)
    tenant_count = 1 if fanout else subs
    for n in range(tenant_count):
        name = f"bench-{uuid.uuid4().hex[:8]}-{n}"
        status, body = await api_call(
            http, "POST", f"{api_url}/v2/admin/tenants", admin_token, {"name": name}
        )
        if status != 201:
            raise RuntimeError(f"creating a tenant answered {status}: {body}")
        plan.tenants.append((int(body["value"]["id"]), str(body["value"]["apiKey"])))
    for n in range(subs):
        _, key = plan.tenants[0 if fanout else n]
        url = receiver_urls[n % len(receiver_urls)]
        spec = {"event": EVENT, "targetUrl": f"{url}/s/{first_path + n}"}
        if fmt != "default":
            spec["format"] = fmt
        status, body = await api_call(http, "POST", f"{api_url}/v2/event/subscription", key, spec)
        if status == 422 and fmt != "default":
            raise Unsupported(f"format {fmt!r} refused: {body}")
        if status != 201:
            raise RuntimeError(f"creating a subscription answered {status}: {body}")
        plan.sub_ids.append(int(body["value"]["id"]))
    return plan


RUN_TOKEN = uuid.uuid4().hex[:8]


def event_id_of(obj: int) -> str:
    """Chosen by the bench (the API takes ``eventId`` too), so that the stage split can
    find each event in the topics."""
    return f"bench-{RUN_TOKEN}-{obj}"


def value_of(obj: int) -> dict[str, Any]:
    return {"id": obj, "name": f"Product {obj}", "price": 9.5, "stock": obj % 100}


Encoded = list[tuple[int, bytes, bytes]]  # (object id, key, value) in send order


def encode_events(plan: Plan, objs: range) -> Encoded:
    """Encoded before the clock starts, so the producer's own cost stays out of it."""
    now = time.time()
    out = []
    for obj in objs:
        event = Event(
            event_id=event_id_of(obj),
            tenant=plan.tenants[plan.owner(obj)][0],
            event=EVENT,
            id=obj,
            occurred_at=now,
            value=value_of(obj),
        )
        out.append((obj, event.key(), event.encode()))
    return out


def encode_deliveries(plan: Plan, objs: range) -> Encoded:
    """``Delivery`` messages as the router would make them, to feed the deliverers
    straight (``--feed deliveries``): the deliverer tier measured on its own."""
    now = time.time()
    out = []
    for obj in objs:
        for slot in plan.expected_subs(obj):
            d = Delivery(
                delivery_id=f"msg_bench{RUN_TOKEN}x{obj}x{slot}",
                subscription_id=plan.sub_ids[slot],
                tenant=plan.tenants[plan.owner(obj)][0],
                event=EVENT,
                event_id=event_id_of(obj),
                object_id=obj,
                payload=value_of(obj),
                created_at=now,
            )
            out.append((obj, d.key(), d.encode()))
    return out


def encode_requests(target: http1.Target, plan: Plan, objs: range) -> http1.Requests:
    """One ``POST /v2/event/publish`` per event, encoded before the clock starts."""
    return [
        (
            obj,
            target.encode(
                plan.tenants[plan.owner(obj)][1],
                {"event": EVENT, "eventId": event_id_of(obj), "id": obj, "value": value_of(obj)},
            ),
        )
        for obj in objs
    ]


async def publish_kafka(
    settings: Settings,
    topic: str,
    encoded: Encoded,
    rate: float | None = None,
) -> dict[int, float]:
    """Send every message (at ``rate`` messages/s when given, else as fast as it goes);
    returns each object id's publish time (its first message's)."""
    producer = kafka.producer(settings)
    await producer.start()
    published: dict[int, float] = {}
    pending = []
    try:
        start = time.monotonic()
        for n, (obj, key, value) in enumerate(encoded):
            if rate is not None and n % 20 == 0:
                ahead = n / rate - (time.monotonic() - start)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            published.setdefault(obj, time.time())
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return published


async def publish_http(
    http: aiohttp.ClientSession, api_url: str, plan: Plan, objs: range, concurrency: int = 4
) -> dict[int, float]:
    """POST lists of 1,000 events of one tenant each, ``concurrency`` at a time."""
    published: dict[int, float] = {}
    lists: dict[int, list[int]] = {}
    for obj in objs:
        lists.setdefault(plan.owner(obj), []).append(obj)
    chunks = [
        (slot, ids[i : i + HTTP_BATCH])
        for slot, ids in lists.items()
        for i in range(0, len(ids), HTTP_BATCH)
    ]
    chunks.sort(key=lambda c: c[1][0])
    gate = asyncio.Semaphore(concurrency)

    async def post(slot: int, ids: list[int]) -> None:
        body = [
            {"event": EVENT, "eventId": event_id_of(obj), "id": obj, "value": value_of(obj)}
            for obj in ids
        ]
        async with gate:
            now = time.time()
            for obj in ids:
                published[obj] = now
            status, answer = await api_call(
                http, "POST", f"{api_url}/v2/event/publish", plan.tenants[slot][1], body
            )
        if status != 202:
            raise RuntimeError(f"publish answered {status}: {str(answer)[:300]}")

    await asyncio.gather(*(post(slot, ids) for slot, ids in chunks))
    return published


async def wait_delivered(
    http: aiohttp.ClientSession, receiver_url: str, expected: int, idle_s: float
) -> dict[str, int]:
    """Until the receiver has every expected delivery, or nothing new came for ``idle_s``."""
    last, since = -1, time.monotonic()
    while True:
        async with http.get(f"{receiver_url}/stats") as rsp:
            stats: dict[str, int] = await rsp.json()
        if stats["unique"] >= expected:
            return stats
        if stats["unique"] != last:
            last, since = stats["unique"], time.monotonic()
        elif time.monotonic() - since > idle_s:
            return stats
        await asyncio.sleep(0.2)
