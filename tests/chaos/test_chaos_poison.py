"""Issue 11, row 1 under a kill: a poisonous event (an object too deep for its
``format: batch`` body, written straight to Kafka) is quarantined; the router,
SIGKILLed right after and restarted, does not crash-loop on it; another tenant's
events all arrive; the quarantine holds the poison once, and re-driven fixed it is
delivered. Run by ``make chaos`` (HOOKLINE_CHAOS=1)."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from typing import Any

import orjson
import pytest
from chaoskit import FaultyReceiver, Load, admin_of, chaos_stack, restart, routable, wait_received

from hookline.core import kafka, topics
from hookline.core.config import Settings
from hookline.core.messages import Event
from support import factories
from support.client import Api
from support.client import session as client_session
from support.receiver import Receiver

pytestmark = pytest.mark.skipif(
    not os.environ.get("HOOKLINE_CHAOS"), reason="fault tests: make chaos runs them"
)


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


async def _tenant(admin: Api) -> tuple[Api, int]:
    status, body = await admin.call(
        "POST", "/v2/admin/tenants", {"name": f"p-{secrets.token_hex(3)}"}
    )
    assert status == 201, body
    return admin.as_key(body["value"]["apiKey"]), int(body["value"]["id"])


async def _entries(admin: Api, tenant_id: int) -> list[dict[str, Any]]:
    status, body = await admin.call("GET", f"/v2/admin/quarantine?tenant={tenant_id}")
    assert status == 200, body
    return list(body["values"])


async def _router_entries(admin: Api, tenant_id: int) -> list[dict[str, Any]]:
    """The router's entries for the tenant, once there is one (and a moment more, for a
    second copy to show if there were one)."""
    deadline = time.monotonic() + 30
    while not [e for e in await _entries(admin, tenant_id) if e["service"] == "router"]:
        assert time.monotonic() < deadline, "the poison never reached the quarantine"
        await asyncio.sleep(0.3)
    await asyncio.sleep(2)
    return [e for e in await _entries(admin, tenant_id) if e["service"] == "router"]


async def _write(settings: Settings, event: Event) -> None:
    producer = kafka.producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(topics.events(settings), event.encode(), key=event.key())
    finally:
        await producer.stop()


async def test_a_poison_event_survives_a_router_kill_and_is_redriven(
    infra: dict[str, str],
) -> None:
    async with chaos_stack(infra) as stack, client_session() as http:
        admin = admin_of(stack, http)
        poisoner, poisoner_id = await _tenant(admin)
        batch_receiver = Receiver()
        await batch_receiver.start()
        other = FaultyReceiver()
        await other.start()
        try:
            spec = {
                "targetUrl": f"{batch_receiver.url}/b",
                "event": "product.create",
                "format": "batch",
            }
            status, _ = await poisoner.call("POST", "/v2/event/subscription", spec)
            assert status == 201
            load = Load((await _tenant(admin))[0])
            await load.subscribe(other, 1)
            await routable(stack, http, 2)

            poison = factories.event(
                event_id="poison-1",
                tenant=poisoner_id,
                occurred_at=time.time(),
                value={"id": 1, "nested": _deep(251)},
            )
            settings = Settings.from_env(stack.env)
            producer = kafka.producer(settings)
            await producer.start()
            try:
                await producer.send_and_wait(
                    topics.events(settings), poison.encode(), key=poison.key()
                )
            finally:
                await producer.stop()
            await restart(stack, "router")  # whether or not it had committed past it
            await load.publish(40, per_call=10)
            missing = await wait_received(load, [other], timeout_s=60)
            assert not missing, f"another tenant's events did not arrive: {sorted(missing)[:5]}"

            router_entries = await _router_entries(admin, poisoner_id)
            assert len(router_entries) == 1, router_entries  # once, even if quarantined again
            [entry] = router_entries
            assert "Recursion limit" in entry["reason"]

            fixed = entry["value"]
            key = "value" if entry["topic"] == topics.events(settings) else "payload"
            fixed[key]["nested"] = "flat"
            status, body = await admin.call(
                "POST", f"/v2/admin/quarantine/{entry['id']}/redrive", {"value": fixed}
            )
            assert status == 202, body
            deadline = time.monotonic() + 30
            while not any(b"flat" in r.body for r in batch_receiver.received):
                assert time.monotonic() < deadline, "the re-driven event was not delivered"
                await asyncio.sleep(0.2)
            assert stack.services["router"].proc is not None
            assert stack.services["router"].proc.poll() is None  # still running
            assert orjson.loads(batch_receiver.received[-1].body)["data"]
        finally:
            await other.stop()
            await batch_receiver.stop()
