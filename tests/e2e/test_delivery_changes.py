"""Secret rotation, and retries that use the subscription as it is when they are made."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest_asyncio

from hookline.core.signing import verify
from support.client import Api
from support.receiver import Receiver
from support.scripted import attempts, eventually, header, publish, subscribe


@pytest_asyncio.fixture(loop_scope="session")
async def second() -> AsyncIterator[Receiver]:
    rcv = Receiver()
    await rcv.start()
    yield rcv
    await rcv.stop()


def _verifies(secret: str, got: object) -> bool:
    return verify(
        secret,
        header(got, "webhook-id"),  # type: ignore[arg-type]
        int(header(got, "webhook-timestamp")),  # type: ignore[arg-type]
        got.body,  # type: ignore[attr-defined]
        header(got, "webhook-signature"),  # type: ignore[arg-type]
        now=int(time.time()),
    )


async def test_a_rotated_secret_signs_beside_the_old_one(tenant: Api, receiver: Receiver) -> None:
    sub = await subscribe(tenant, f"{receiver.url}/rotate")
    old = sub["secret"]
    status, rotated = await tenant.call("POST", f"/v2/event/subscription/{sub['id']}/secret/rotate")
    assert status == 200, rotated
    new = rotated["value"]["secret"]
    assert new.startswith("whsec_") and new != old
    assert rotated["value"]["version"] == sub["version"] + 1
    assert rotated["value"]["previousSecretExpiresAt"] > time.strftime("%Y-%m-%dT%H:%M:%S")
    _, read = await tenant.call("GET", f"/v2/event/subscription/{sub['id']}")
    assert read["value"]["secret"] != new and read["value"]["secret"].endswith("****")

    await publish(tenant, [1])
    (got,) = await receiver.wait_for(1, timeout_s=10)
    assert len(header(got, "webhook-signature").split()) == 2
    assert _verifies(new, got) and _verifies(old, got)

    status, missing = await tenant.call("POST", "/v2/event/subscription/999999/secret/rotate")
    assert status == 404, missing


async def test_a_retry_uses_the_new_url_secret_and_auth(
    tenant: Api, receiver: Receiver, second: Receiver
) -> None:
    receiver.responder = lambda _n: 500
    sub = await subscribe(tenant, f"{receiver.url}/old")
    await publish(tenant, [7])
    (first,) = await receiver.wait_for(1, timeout_s=10)
    assert "x-token" not in {k.lower() for k in first.headers}

    status, _ = await tenant.call(
        "PUT",
        f"/v2/event/subscription/{sub['id']}",
        {
            "targetUrl": f"http://u:p%40ss@127.0.0.1:{second.port}/new",
            "authHeaderName": "X-Token",
            "authHeaderValue": "t0k3n",
        },
    )
    assert status == 200
    status, rotated = await tenant.call("POST", f"/v2/event/subscription/{sub['id']}/secret/rotate")
    assert status == 200

    (retried,) = await second.wait_for(1, timeout_s=15)
    assert retried.path == "/new"
    assert header(retried, "webhook-id") == header(first, "webhook-id")
    assert retried.body == first.body
    assert header(retried, "x-token") == "t0k3n"
    assert header(retried, "authorization") == "Basic dTpwQHNz"  # u:p@ss
    assert _verifies(rotated["value"]["secret"], retried)


async def test_a_retry_is_dropped_when_the_subscription_was_deleted_or_disabled(
    tenant: Api, receiver: Receiver
) -> None:
    receiver.responder = lambda _n: 500
    deleted = await subscribe(tenant, f"{receiver.url}/deleted")
    disabled = await subscribe(tenant, f"{receiver.url}/disabled")
    await publish(tenant, [1])
    await receiver.wait_for(2, timeout_s=10)
    assert {r.path for r in receiver.received} == {"/deleted", "/disabled"}

    status, _ = await tenant.call("DELETE", f"/v2/event/subscription/{deleted['id']}")
    assert status == 204
    status, _ = await tenant.call(
        "PUT", f"/v2/event/subscription/{disabled['id']}", {"status": "DISABLED"}
    )
    assert status == 200

    # The first retries were due 1 s after the first attempts, the next ones 2 s later.
    await asyncio.sleep(3.5)
    assert len(receiver.received) == 2

    log = await eventually(lambda: attempts(tenant, disabled["id"]), 5, "the attempt is logged")
    assert [a["attempt"] for a in log["values"]] == [1]
    _, dead = await tenant.call("GET", f"/v2/event/subscription/{disabled['id']}/deadletters")
    assert dead["fullResultSize"] == 0
