"""``POST /v2/event/subscription/{id}/replay``: a tenant's matching events since a time,
again, to that one subscription only, with progress to follow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from router_support import eventually, publish, subscribe, wait_drained

from support.client import Api
from support.receiver import Receiver
from support.stack import Stack


def update(n: int, **value: object) -> dict[str, Any]:
    return {"event": "product.update", "id": n, "value": {"id": n, **value}}


def by_object(received: list[Any]) -> list[Any]:
    return sorted((orjson.loads(r.body) for r in received), key=lambda b: b["id"])  # stable


async def finished(tenant: Api, url: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def done() -> bool:
        status, body = await tenant.call("GET", url)
        assert status == 200, body
        found.update(body["value"])
        return bool(body["value"]["status"] != "RUNNING")

    await eventually(done, timeout_s=30)
    return found


async def test_a_replay_sends_the_matching_events_again_to_one_subscription(
    stack: Stack, tenant: Api, receiver: Receiver, admin: Api
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    sub = await subscribe(tenant, receiver, path="/a", fields="id,name")
    await subscribe(tenant, receiver, path="/b")  # same tenant and event: gets no replay
    await publish(tenant, [update(1, name="one", v=1), update(1, name="uno", v=2), update(2)])
    await publish(tenant, {"event": "product.create", "id": 3, "value": {"id": 3}})  # other type
    status, other = await admin.call("POST", "/v2/admin/tenants", {"name": "other"})
    assert status == 201
    await publish(admin.as_key(other["value"]["apiKey"]), update(4))  # other tenant
    await wait_drained(stack)
    live = [r for r in receiver.received if r.path == "/a"]
    assert len(live) == 3 and len(receiver.received) == 6

    status, started = await tenant.call(
        "POST", f"/v2/event/subscription/{sub['id']}/replay", {"since": since.isoformat()}
    )
    assert status == 202, started
    replay = started["value"]
    assert replay["status"] == "RUNNING" and replay["subscriptionId"] == sub["id"]
    path = replay["url"].removeprefix(tenant.base)
    assert path == f"/v2/event/subscription/{sub['id']}/replay/{replay['id']}"

    done = await finished(tenant, path)
    assert done["status"] == "DONE", done
    # the tenant's 4 events in the range (not the other tenant's), 3 of them the subscription's
    assert (done["replayed"], done["processed"], done["total"]) == (3, 4, 4)
    await wait_drained(stack)
    again = receiver.received[6:]
    assert [r.path for r in again] == ["/a"] * 3  # to that subscription only
    # the same bodies; each object's versions in the same order (objects may interleave)
    assert by_object(again) == by_object(live)
    assert [b["value"]["name"] for b in by_object(again) if b["id"] == 1] == ["one", "uno"]
    # new webhook ids, so a receiver that drops copies by id takes the replay
    assert not {r.headers["webhook-id"] for r in again} & {r.headers["webhook-id"] for r in live}


async def test_replay_requests_that_cannot_work_say_why(tenant: Api, receiver: Receiver) -> None:
    sub = await subscribe(tenant, receiver)
    path = f"/v2/event/subscription/{sub['id']}/replay"
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for body in ({}, {"since": "yesterday"}, {"since": future}, ["since"]):
        status, answer = await tenant.call("POST", path, body)
        assert status == 422, answer
        assert answer["validationMessages"][0]["field"] == "since"
    status, answer = await tenant.call(
        "POST", "/v2/event/subscription/999999/replay", {"since": future}
    )
    assert status == 404, answer
    status, answer = await tenant.call("GET", f"{path}/rpl_nope")
    assert status == 404, answer

    status, changed = await tenant.call(
        "PUT", f"/v2/event/subscription/{sub['id']}", {"version": 0, "status": "DISABLED"}
    )
    assert status == 200, changed
    status, answer = await tenant.call("POST", path, {"since": "2020-01-01T00:00:00Z"})
    assert status == 422 and "ACTIVE" in answer["message"], answer


async def test_a_replay_left_by_a_dead_api_process_is_taken_over(
    stack: Stack, tenant: Api, receiver: Receiver, database_url: str
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    sub = await subscribe(tenant, receiver)
    await publish(tenant, [update(1), update(2)])
    await receiver.wait_for(2)
    conn = await asyncpg.connect(database_url)
    try:  # a RUNNING replay whose process stopped beating a minute ago
        await conn.execute(
            "INSERT INTO replays (id, subscription_id, tenant_id, since, status, heartbeat_at)"
            " SELECT 'rpl_orphan', id, tenant_id, $2, 'RUNNING', now() - interval '1 minute'"
            " FROM subscriptions WHERE id = $1",
            sub["id"],
            since,
        )
    finally:
        await conn.close()
    done = await finished(tenant, f"/v2/event/subscription/{sub['id']}/replay/rpl_orphan")
    assert done["status"] == "DONE" and done["replayed"] == 2, done
    await receiver.wait_for(4)
