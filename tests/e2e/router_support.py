"""Helpers for the router's end-to-end tests (test_router_*.py).

``wait_drained`` is how these tests say "nothing more will arrive": it waits until
every consumer group of the stack has committed everything on its topics (events,
batch items, deliveries, every retry topic). A delivery still in flight, or a retry
not yet due, keeps a group behind; once all are level, no request is on its way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from hookline.core import kafka
from hookline.core.config import Settings
from support.client import Api
from support.receiver import Receiver
from support.stack import Stack


async def subscribe(
    tenant: Api, receiver: Receiver, path: str = "/hook", **extra: object
) -> dict[str, Any]:
    body = {"targetUrl": f"{receiver.url}{path}", **extra}
    if "events" not in body:
        body.setdefault("event", "product.update")
    status, created = await tenant.call("POST", "/v2/event/subscription", body)
    assert status == 201, created
    return dict(created["value"])


async def publish(tenant: Api, events: Any) -> Any:
    status, body = await tenant.call("POST", "/v2/event/publish", events)
    assert status == 202, body
    return body["value"]


def bodies(receiver: Receiver, path: str | None = None) -> list[Any]:
    return [orjson.loads(r.body) for r in receiver.received if path is None or r.path == path]


async def router_counts(stack: Stack) -> dict[str, int]:
    url = f"http://127.0.0.1:{stack.services['router'].port}/healthz"
    async with aiohttp.ClientSession() as http, http.get(url) as rsp:
        body = await rsp.json()
    return dict(body["routed"])


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s}s")
        await asyncio.sleep(0.1)


def _groups(stack: Stack) -> dict[str, list[str]]:
    prefix = stack.env["HOOKLINE_TOPIC_PREFIX"]
    retries = [f"{prefix}.retry.{d}" for d in stack.env["HOOKLINE_RETRY_DELAYS"].split(",")]
    return {
        f"{prefix}-router": [f"{prefix}.events", f"{prefix}.router.batch-items"],
        f"{prefix}-deliverer": [f"{prefix}.deliveries"],
        f"{prefix}-retry-scheduler": retries,
    }


async def _records_after(reader: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> bool:
    """Whether a consumer would get a record at or after ``offset``: transaction markers
    (the retry scheduler writes in transactions) take offsets but are not records, so a
    group that read everything stays an offset or two below the end."""
    reader.assign([tp])
    reader.seek(tp, offset)
    end = (await reader.end_offsets([tp]))[tp]
    for _ in range(10):
        if (await reader.getmany(tp, timeout_ms=200)).get(tp):
            return True
        if await reader.position(tp) >= end:
            return False
    return True


async def _behind(stack: Stack) -> list[str]:
    settings = Settings.from_env(stack.env)
    admin = kafka.admin(settings)
    reader = kafka.consumer(
        settings, group=None, isolation_level="read_committed", fetch_max_wait_ms=50
    )
    await admin.start()
    await reader.start()
    try:
        behind = []
        cluster = await reader._client.fetch_all_metadata()
        for group, names in _groups(stack).items():
            committed = await admin.list_consumer_group_offsets(group)
            for name in names:
                tps = [TopicPartition(name, p) for p in cluster.partitions_for_topic(name) or ()]
                ends = await reader.end_offsets(tps) if tps else {}
                for tp, end in ends.items():
                    meta = committed.get(tp)
                    done = meta.offset if meta is not None and meta.offset >= 0 else 0
                    if done < end and await _records_after(reader, tp, done):
                        behind.append(f"{group} {tp.topic}[{tp.partition}] {done}<{end}")
        return behind
    finally:
        await reader.stop()
        await admin.close()


async def wait_drained(stack: Stack, timeout_s: float = 30) -> None:
    """Wait until nothing is left to route, deliver or retry anywhere in the stack."""
    deadline = time.monotonic() + timeout_s
    while behind := await _behind(stack):
        if time.monotonic() > deadline:
            raise AssertionError(f"still in flight after {timeout_s}s: {behind}")
        await asyncio.sleep(0.2)
