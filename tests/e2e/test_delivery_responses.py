"""How answers are treated, seen through the attempt log: 410, Retry-After, what is kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest_asyncio
from aiohttp import web

from support.client import Api
from support.scripted import ScriptedReceiver, attempts, eventually, publish, subscribe


@pytest_asyncio.fixture(loop_scope="session")
async def scripted() -> AsyncIterator[ScriptedReceiver]:
    rcv = ScriptedReceiver()
    await rcv.start()
    yield rcv
    await rcv.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def watcher() -> AsyncIterator[ScriptedReceiver]:
    rcv = ScriptedReceiver()
    await rcv.start()
    yield rcv
    await rcv.stop()


async def test_410_disables_the_subscription_and_announces_it(
    tenant: Api, scripted: ScriptedReceiver, watcher: ScriptedReceiver
) -> None:
    scripted.responder = lambda _n: 410
    gone = await subscribe(tenant, f"{scripted.url}/gone")
    await subscribe(tenant, f"{watcher.url}/ops", event="subscription.disabled")
    await publish(tenant, [1])

    async def status() -> str | None:
        _, body = await tenant.call("GET", f"/v2/event/subscription/{gone['id']}")
        s = body["value"]["status"]
        return s if s != "ACTIVE" else None

    assert await eventually(status, 15, "the subscription is disabled") == "DISABLED_GONE"
    assert len(scripted.received) == 1  # a 410 is not retried

    (note,) = await watcher.wait_for(1, timeout_s=15)
    body = orjson.loads(note.body)
    assert body["event"] == "subscription.disabled" and body["id"] == gone["id"]
    assert body["value"]["status"] == "DISABLED_GONE"
    assert body["value"]["secret"] != gone["secret"] and body["value"]["secret"].endswith("****")

    log = await eventually(lambda: attempts(tenant, gone["id"]), 10, "the attempt is logged")
    (attempt,) = log["values"]
    assert (attempt["status"], attempt["outcome"], attempt["attempt"]) == (410, "GONE", 1)

    _, dead = await tenant.call("GET", f"/v2/event/subscription/{gone['id']}/deadletters")
    assert dead["fullResultSize"] == 1 and dead["values"][0]["lastError"] == "HTTP 410"

    # PUT with status ACTIVE re-enables it.
    status_code, again = await tenant.call(
        "PUT", f"/v2/event/subscription/{gone['id']}", {"status": "ACTIVE"}
    )
    assert status_code == 200 and again["value"]["status"] == "ACTIVE"


async def test_retry_after_is_honoured_within_bounds(
    tenant: Api, scripted: ScriptedReceiver
) -> None:
    async def script(n: int, request: web.Request) -> web.Response:
        which = orjson.loads(await request.read())["id"]
        if n < 2:  # the first answer to each of the two events
            retry_after = "2" if which == 1 else "100000"
            return web.Response(
                status=429 if which == 1 else 503, headers={"Retry-After": retry_after}
            )
        return web.Response(status=200)

    scripted.script = script
    sub = await subscribe(tenant, f"{scripted.url}/busy")
    await publish(tenant, [1, 2])
    await scripted.wait_for(4, timeout_s=15)
    arrivals: dict[int, list[float]] = {}
    for r in scripted.received:
        arrivals.setdefault(orjson.loads(r.body)["id"], []).append(r.at)
    first, second = arrivals[1]
    assert second - first >= 1.9  # asked for 2 s; the first retry delay is 1 s
    first, second = arrivals[2]
    # Asked for 100000 s: held to the longest delay of the schedule (3 s in the tests).
    assert 2.9 <= second - first <= 6

    log = await eventually(
        lambda: attempts(tenant, sub["id"], "status=4xx"), 10, "the 429 is logged"
    )
    assert log["values"][0]["reason"] == "HTTP 429 (Retry-After 2s)"


async def test_the_attempt_log_keeps_status_latency_and_the_first_4_KiB(
    tenant: Api, scripted: ScriptedReceiver, admin: Api
) -> None:
    big = "x" * 10_000

    async def script(n: int, _: web.Request) -> web.Response:
        return web.Response(status=500, text=big) if n == 0 else web.Response(text="thanks")

    scripted.script = script
    sub = await subscribe(tenant, f"{scripted.url}/log")
    await publish(tenant, [9])
    path = f"/v2/event/subscription/{sub['id']}/attempts"

    async def both() -> Any:
        body = await attempts(tenant, sub["id"])
        return body if body["fullResultSize"] == 2 else None

    log = await eventually(both, 15, "two attempts are logged")
    newest, oldest = log["values"]
    assert (newest["outcome"], newest["status"], newest["responseBody"]) == (
        "SUCCESS",
        200,
        "thanks",
    )
    assert (oldest["outcome"], oldest["status"], oldest["attempt"]) == ("RETRY", 500, 1)
    assert oldest["responseBody"] == "x" * 4096
    assert oldest["latencyMs"] > 0 and oldest["reason"] == "HTTP 500"
    assert newest["deliveryId"] == oldest["deliveryId"] and newest["attempt"] == 2

    page = await attempts(tenant, sub["id"], "from=1&count=1")
    assert (page["fullResultSize"], page["from"], page["count"]) == (2, 1, 1)
    assert page["values"][0]["id"] == oldest["id"]
    assert (await attempts(tenant, sub["id"], "status=5xx"))["fullResultSize"] == 1
    assert (await attempts(tenant, sub["id"], "status=200"))["fullResultSize"] == 1
    assert (await attempts(tenant, sub["id"], "outcome=success"))["fullResultSize"] == 1
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    earlier = (datetime.now(UTC) - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    assert (await attempts(tenant, sub["id"], f"since={later.replace('+', '%2B')}"))[
        "fullResultSize"
    ] == 0
    assert (await attempts(tenant, sub["id"], f"since={earlier}"))["fullResultSize"] == 2

    for query, field in [
        ("status=abc", "status"),
        ("outcome=MAYBE", "outcome"),
        ("since=x", "since"),
    ]:
        status, body = await tenant.call("GET", f"{path}?{query}")
        assert status == 422 and body["validationMessages"][0]["field"] == field, body

    # Another tenant does not see it.
    _, created = await admin.call("POST", "/v2/admin/tenants", {"name": "other"})
    other = admin.as_key(created["value"]["apiKey"])
    status, _ = await other.call("GET", path)
    assert status == 404
