"""The API's roles as two processes (``python -m hookline.api serve`` and ``... worker``)
on the real broker and database: the worker projects the attempt log, and the HTTP
server answers on its own while the worker is stopped.

A stack of its own (own topic prefix, own database), since it stops its worker.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest_asyncio

from support import stack as stacks
from support.client import Api
from support.database import own_database
from support.receiver import Receiver
from support.scripted import attempts, eventually, publish, subscribe
from support.stack import ROOT, Stack


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def apart(infra: dict[str, str]) -> AsyncIterator[Stack]:
    async with own_database(infra["HOOKLINE_DATABASE_URL"]) as url:
        env = stacks.test_settings(infra, url)
        stack = Stack(env, api_apart=True)
        try:
            logs = ROOT / ".local" / "test-logs" / env["HOOKLINE_TOPIC_PREFIX"]
            await asyncio.to_thread(stack.start, logs)
            yield stack
        finally:
            await asyncio.to_thread(stack.stop)


@pytest_asyncio.fixture(loop_scope="session")
async def api(apart: Stack, http: aiohttp.ClientSession) -> Api:
    admin = Api(apart.api_url, http, apart.admin_token)
    status, body = await admin.call("POST", "/v2/admin/tenants", {"name": "roles"})
    assert status == 201, body
    return admin.as_key(body["value"]["apiKey"])


async def _ready(http: aiohttp.ClientSession, port: int) -> dict[str, object]:
    async with http.get(f"http://127.0.0.1:{port}/readyz") as rsp:
        body: dict[str, object] = await rsp.json()
        assert rsp.status == 200, body
        return body


async def test_the_worker_projects_and_http_answers_while_it_is_stopped(
    apart: Stack, api: Api, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    serve, worker = apart.services["api"], apart.services["api_worker"]
    assert serve.args == ("serve",) and worker.args == ("worker",)
    for port in (serve.port, worker.port):
        ready = await _ready(http, port)
        assert ready["checks"] == {"database": True, "kafka": True, "projectors": True}

    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    sub = await subscribe(api, f"{receiver.url}/roles", fields="id")
    await publish(api, [1])
    await receiver.wait_for(1, timeout_s=20)

    async def logged(n: int) -> Any:
        """The attempt log once it holds ``n`` attempts or more (the replay taken over
        after the restart adds its own as soon as it runs)."""
        body = await attempts(api, sub["id"])
        return body if body["fullResultSize"] >= n else None

    first = await eventually(lambda: logged(1), 20, "the worker projects the attempt")
    assert first["fullResultSize"] == 1 and first["values"][0]["outcome"] == "SUCCESS"

    worker.kill(signal.SIGTERM)
    assert worker.proc is not None and worker.proc.returncode == 0
    path = f"/v2/event/subscription/{sub['id']}"
    # The HTTP server alone: reads, writes, its own readiness, a delivery still made.
    status, body = await api.call("GET", path)
    assert status == 200 and body["value"]["status"] == "ACTIVE", body
    status, body = await api.call("PUT", path, {"fields": "id,name"})
    assert status == 200 and body["value"]["version"] == 1, body
    assert (await _ready(http, serve.port))["ready"] is True
    status, started = await api.call("POST", path + "/replay", {"since": since})
    assert status == 202 and started["value"]["status"] == "RUNNING", started
    await publish(api, [2])
    await receiver.wait_for(2, timeout_s=20)
    # Nobody projects the attempt log now: the second attempt waits on its topic.
    await asyncio.sleep(2)
    assert (await attempts(api, sub["id"]))["fullResultSize"] == 1
    replay_path = started["value"]["url"].removeprefix(api.base)
    status, waiting = await api.call("GET", replay_path)
    assert status == 200 and waiting["value"]["status"] == "RUNNING", waiting
    assert waiting["value"]["processed"] == 0

    await asyncio.to_thread(worker.start)
    await asyncio.to_thread(worker.wait_healthy)
    # The worker goes on from its stored offsets: the attempt made meanwhile appears.
    await eventually(lambda: logged(2), 20, "the restarted worker projects the attempt")

    async def replayed() -> Any:
        _, body = await api.call("GET", replay_path)
        return body["value"] if body["value"]["status"] != "RUNNING" else None

    done = await eventually(replayed, 30, "the worker takes over the replay and finishes it")
    assert done["status"] == "DONE" and done["replayed"] == 2, done
    # The replay of both events arrives as two more deliveries.
    await receiver.wait_for(4, timeout_s=20)
