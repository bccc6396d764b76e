"""What the quarantine's end-to-end tests share: tenants with ids, records written
straight to Kafka (as a producer that bypasses the API would), and the admin list."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from hookline.core import kafka
from hookline.core.config import Settings
from support.client import Api
from support.receiver import Receiver
from support.stack import Stack


async def new_tenant(admin: Api) -> tuple[Api, int]:
    status, body = await admin.call(
        "POST", "/v2/admin/tenants", {"name": f"q-{secrets.token_hex(3)}"}
    )
    assert status == 201, body
    return admin.as_key(body["value"]["apiKey"]), int(body["value"]["id"])


async def write(stack: Stack, topic: str, value: bytes, key: bytes | None) -> None:
    producer = kafka.producer(Settings.from_env(stack.env))
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def quarantined(admin: Api, timeout_s: float = 30, **filters: str) -> list[dict[str, Any]]:
    """The quarantine's entries that match ``filters``, once there is at least one."""
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    deadline = time.monotonic() + timeout_s
    while True:
        status, body = await admin.call("GET", f"/v2/admin/quarantine?{query}")
        assert status == 200, body
        if body["values"] or time.monotonic() > deadline:
            return list(body["values"])
        await asyncio.sleep(0.3)


async def delivered_to_another_tenant(admin: Api, receiver: Receiver, path: str) -> None:
    """A tenant that has nothing to do with the poison publishes: it arrives."""
    other, _ = await new_tenant(admin)
    status, _created = await other.call(
        "POST",
        "/v2/event/subscription",
        {"targetUrl": f"{receiver.url}{path}", "event": "product.update"},
    )
    assert status == 201
    before = sum(1 for r in receiver.received if r.path == path)
    status, body = await other.call(
        "POST", "/v2/event/publish", {"event": "product.update", "id": 1}
    )
    assert status == 202, body
    deadline = time.monotonic() + 20
    while sum(1 for r in receiver.received if r.path == path) <= before:
        assert time.monotonic() < deadline, f"another tenant's event did not arrive at {path}"
        await asyncio.sleep(0.05)


async def redrive(admin: Api, entry_id: int, body: Any = None) -> tuple[int, Any]:
    return await admin.call("POST", f"/v2/admin/quarantine/{entry_id}/redrive", body)
