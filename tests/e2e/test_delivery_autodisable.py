"""Auto-disable and attempt retention, with short settings on a stack of their own.

``HOOKLINE_AUTO_DISABLE_AFTER=3s`` would disable the subscriptions of any other test
that fails for a few seconds, so these tests start their own four services (own
topic prefix, own database) beside the session's.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import orjson
import pytest_asyncio

from support import stack as stacks
from support.client import Api
from support.receiver import Receiver
from support.scripted import attempts, eventually, publish, subscribe
from support.stack import ROOT, Stack

AFTER_S = 3


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def short_stack(infra: dict[str, str]) -> AsyncIterator[Stack]:
    url = infra["HOOKLINE_DATABASE_URL"]
    name = f"hookline_test_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    parts = urlsplit(url)
    env = stacks.test_settings(infra, urlunsplit(parts._replace(path="/" + name)))
    env["HOOKLINE_AUTO_DISABLE_AFTER"] = f"{AFTER_S}s"
    env["HOOKLINE_ATTEMPT_RETENTION"] = "5s"
    stack = Stack(env)
    try:
        logs = ROOT / ".local" / "test-logs" / env["HOOKLINE_TOPIC_PREFIX"]
        await asyncio.to_thread(stack.start, logs)
        yield stack
    finally:
        await asyncio.to_thread(stack.stop)
        conn = await asyncpg.connect(url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


@pytest_asyncio.fixture(loop_scope="session")
async def api(short_stack: Stack, http: aiohttp.ClientSession) -> Api:
    admin = Api(short_stack.api_url, http, short_stack.admin_token)
    status, body = await admin.call("POST", "/v2/admin/tenants", {"name": "short"})
    assert status == 201, body
    return admin.as_key(body["value"]["apiKey"])


@pytest_asyncio.fixture(loop_scope="session")
async def watcher() -> AsyncIterator[Receiver]:
    rcv = Receiver()
    await rcv.start()
    yield rcv
    await rcv.stop()


async def _status(api: Api, sub_id: int) -> str:
    _, body = await api.call("GET", f"/v2/event/subscription/{sub_id}")
    return str(body["value"]["status"])


async def _logged(api: Api, sub_id: int, count: int) -> object:
    body = await attempts(api, sub_id)
    return body if body["fullResultSize"] >= count else None


async def test_failing_for_the_whole_window_disables_and_announces_it(
    api: Api, receiver: Receiver, watcher: Receiver
) -> None:
    receiver.responder = lambda _n: 500
    sub = await subscribe(api, f"{receiver.url}/down")
    await subscribe(api, f"{watcher.url}/ops", event="subscription.disabled")
    await publish(api, [1])

    async def disabled() -> bool:
        return await _status(api, sub["id"]) == "DISABLED_TOO_MANY_ERRORS"

    # Attempts at 0 s, 1 s and 3 s: the third is 3 s after the first failure.
    await eventually(disabled, 15, "the subscription is disabled")
    assert len(receiver.received) >= 3
    (note,) = await watcher.wait_for(1, timeout_s=10)
    body = orjson.loads(note.body)
    assert body["event"] == "subscription.disabled" and body["id"] == sub["id"]
    assert body["value"]["status"] == "DISABLED_TOO_MANY_ERRORS"
    assert body["value"]["secret"].endswith("****")

    # Re-enabled, it gets a fresh window: one more failure does not disable it again.
    status, _ = await api.call("PUT", f"/v2/event/subscription/{sub['id']}", {"status": "ACTIVE"})
    assert status == 200
    since = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    await publish(api, [2])

    async def failed_again() -> object:
        body = await attempts(api, sub["id"], f"since={since}")
        return body["values"] if body["fullResultSize"] else None

    await eventually(failed_again, 10, "a failure after re-enabling is logged")
    assert await _status(api, sub["id"]) == "ACTIVE"


async def test_a_success_starts_the_clock_again(api: Api, receiver: Receiver) -> None:
    # Event 1 fails at 0 s and 1 s and succeeds at 3 s; event 2 then fails.
    receiver.responder = lambda n: 200 if n == 2 else 500
    sub = await subscribe(api, f"{receiver.url}/flaky")
    await publish(api, [1])
    await receiver.wait_for(3, timeout_s=10)
    await publish(api, [2])
    await receiver.wait_for(4, timeout_s=10)
    # Without the success, the failure of event 2 would be 3 s after the first one.
    await eventually(lambda: _logged(api, sub["id"], 4), 5, "four attempts are logged")
    assert await _status(api, sub["id"]) == "ACTIVE"

    async def disabled() -> bool:
        return await _status(api, sub["id"]) == "DISABLED_TOO_MANY_ERRORS"

    # Event 2 goes on failing (1 s, then 3 s after its first try): that disables it.
    await eventually(disabled, 15, "disabled 3 s after the failures started again")


async def test_attempts_older_than_the_retention_are_deleted(api: Api, receiver: Receiver) -> None:
    sub = await subscribe(api, f"{receiver.url}/ok")
    await publish(api, [1])
    await eventually(lambda: _logged(api, sub["id"], 1), 10, "the attempt is logged")

    async def gone() -> bool:
        return bool((await attempts(api, sub["id"]))["fullResultSize"] == 0)

    # Retention 5 s, looked at every second.
    await eventually(gone, 12, "the attempt is deleted after the retention")
