"""The same ``eventId`` is routed once within the dedup window, router restarts included."""

from __future__ import annotations

import secrets

from router_support import bodies, eventually, publish, router_counts, subscribe, wait_drained

from support.client import Api
from support.receiver import Receiver
from support.stack import Stack


def event(event_id: str, n: int) -> dict[str, object]:
    return {"event": "product.update", "eventId": event_id, "id": n, "value": {"id": n}}


async def duplicates_after(stack: Stack, before: int) -> None:
    async def dropped() -> bool:
        return (await router_counts(stack))["duplicates"] > before

    await eventually(dropped)


async def test_an_event_published_twice_arrives_once(
    stack: Stack, tenant: Api, receiver: Receiver, admin: Api
) -> None:
    await subscribe(tenant, receiver)
    event_id = f"evt-{secrets.token_hex(4)}"
    before = (await router_counts(stack))["duplicates"]
    assert (await publish(tenant, event(event_id, 1)))["eventId"] == event_id
    await publish(tenant, event(event_id, 1))
    await duplicates_after(stack, before)  # the router saw the copy and dropped it
    await wait_drained(stack)
    assert [(b["id"], b["value"]) for b in bodies(receiver)] == [(1, {"id": 1})]

    # Event ids are the producer's: another tenant's event with the same id is its own.
    status, other = await admin.call("POST", "/v2/admin/tenants", {"name": "other"})
    assert status == 201, other
    other_tenant = admin.as_key(other["value"]["apiKey"])
    await subscribe(other_tenant, receiver, path="/other")
    await publish(other_tenant, event(event_id, 1))
    await receiver.wait_for(2)
    assert [r.path for r in receiver.received] == ["/hook", "/other"]


async def test_a_copy_published_after_a_router_restart_is_dropped(
    stack: Stack, tenant: Api, receiver: Receiver
) -> None:
    await subscribe(tenant, receiver)
    event_id = f"evt-{secrets.token_hex(4)}"
    await publish(tenant, event(event_id, 5))
    await receiver.wait_for(1)
    await wait_drained(stack)  # the router committed the event and wrote its table

    stack.services["router"].restart()  # SIGKILL, then start again
    before = (await router_counts(stack))["duplicates"]
    await publish(tenant, event(event_id, 5))
    await duplicates_after(stack, before)
    await wait_drained(stack)
    assert len(receiver.received) == 1
