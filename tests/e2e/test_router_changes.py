"""Subscription changes take effect for every event published after they are
acknowledged: disable, re-enable, delete (retries included)."""

from __future__ import annotations

import orjson
from router_support import (
    bodies,
    publish,
    router_counts,
    subscribe,
    wait_drained,
)

from support.client import Api
from support.receiver import Receiver
from support.stack import Stack


def event(n: int) -> dict[str, object]:
    return {"event": "product.update", "id": n, "value": {"id": n}}


async def test_disable_then_enable_then_delete_each_apply_to_the_next_event(
    stack: Stack, tenant: Api, receiver: Receiver
) -> None:
    sub = await subscribe(tenant, receiver)
    path = f"/v2/event/subscription/{sub['id']}"
    version = sub["version"]
    for n in range(3):  # each change is followed at once by an event: no time to settle
        status, changed = await tenant.call("PUT", path, {"version": version, "status": "DISABLED"})
        assert status == 200, changed
        await publish(tenant, event(100 + n))
        await wait_drained(stack)
        assert bodies(receiver) == []  # published while disabled: never sent

        status, changed = await tenant.call(
            "PUT", path, {"version": changed["value"]["version"], "status": "ACTIVE"}
        )
        assert status == 200, changed
        version = changed["value"]["version"]
        await publish(tenant, event(200 + n))
        (got,) = await receiver.wait_for(1)
        assert orjson.loads(got.body)["id"] == 200 + n
        receiver.received.clear()

    status, _ = await tenant.call("DELETE", path)
    assert status == 204
    await publish(tenant, event(300))
    await wait_drained(stack)
    assert bodies(receiver) == []  # published after the delete: never sent


async def test_a_retry_of_a_deleted_subscription_is_not_sent(
    stack: Stack, tenant: Api, receiver: Receiver
) -> None:
    receiver.responder = lambda n: 500  # every attempt fails, so a retry is always due
    sub = await subscribe(tenant, receiver)
    await publish(tenant, event(1))
    (first,) = await receiver.wait_for(1)
    status, _ = await tenant.call("DELETE", f"/v2/event/subscription/{sub['id']}")
    assert status == 204

    await wait_drained(stack)  # the retries (1s, 2s, 3s) came due and were dropped
    assert [r.body for r in receiver.received] == [first.body]


async def test_the_fence_costs_a_round_per_batch_not_per_event(
    stack: Stack, tenant: Api, receiver: Receiver
) -> None:
    await subscribe(tenant, receiver)
    before = await router_counts(stack)
    await publish(tenant, [event(n) for n in range(200)])
    await receiver.wait_for(200, timeout_s=30)
    after = await router_counts(stack)
    assert after["events"] - before["events"] >= 200
    assert after["fenceRounds"] - before["fenceRounds"] <= 20
