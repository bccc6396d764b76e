"""PostgreSQL down: every API call answers 503 with ``Retry-After`` (it was a 500), and
the API answers as before once PostgreSQL is back.

An API process of its own reaches PostgreSQL through a proxy the test cuts, so the
shared database is never stopped."""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio
from router_support import eventually

from hookline.api.http.auth import KEY_TTL_S
from support import stack as support_stack
from support.client import Api
from support.database import own_database
from support.stack import ROOT, Service, free_port
from support.tcpproxy import TcpProxy


@pytest_asyncio.fixture(loop_scope="session")
async def api_behind_proxy(
    infra: dict[str, str], http: aiohttp.ClientSession
) -> AsyncIterator[tuple[Api, TcpProxy]]:
    async with own_database(infra["HOOKLINE_DATABASE_URL"]) as url:
        proxy = TcpProxy.for_url(url)
        await proxy.start()
        env = support_stack.test_settings(infra, proxy.url_through(url))
        env["HOOKLINE_HTTP_PORT"] = str(free_port())
        logs = ROOT / ".local" / "test-logs" / env["HOOKLINE_TOPIC_PREFIX"]
        logs.mkdir(parents=True, exist_ok=True)
        api = Service("api", env, logs / "api.log")
        api.start()
        try:
            await asyncio.to_thread(api.wait_healthy)  # the proxy runs on this loop
            yield Api(f"http://127.0.0.1:{api.port}", http, env["HOOKLINE_ADMIN_TOKEN"]), proxy
        finally:
            await asyncio.to_thread(api.kill, signal.SIGTERM)
            await proxy.stop()


async def test_with_postgresql_down_every_call_is_a_503_with_retry_after(
    api_behind_proxy: tuple[Api, TcpProxy],
) -> None:
    admin, proxy = api_behind_proxy
    status, created = await admin.call("POST", "/v2/admin/tenants", {"name": "down"})
    assert status == 201, created
    tenant = admin.as_key(created["value"]["apiKey"])
    event = {"event": "product.update", "id": 1, "value": {"id": 1}}
    assert (await tenant.call("POST", "/v2/event/publish", event))[0] == 202

    await proxy.cut()
    await asyncio.sleep(KEY_TTL_S + 0.2)  # a key's tenant is remembered that long
    started = time.monotonic()
    for method, path, body in (
        ("POST", "/v2/event/publish", event),
        ("GET", "/v2/event/subscription", None),
        ("POST", "/v2/admin/tenants", {"name": f"t-{secrets.token_hex(2)}"}),
    ):
        caller = admin if "admin" in path else tenant
        async with caller.session.request(
            method,
            caller.base + path,
            json=body,
            headers={"Authorization": f"Bearer {caller.key}"},
        ) as rsp:
            answer = await rsp.json()
            assert rsp.status == 503, (path, answer)
            assert rsp.headers["Retry-After"] == "5"
            assert answer["code"] == "unavailable" and "database" in answer["message"]
    assert time.monotonic() - started < 30  # each within the connect timeout, not asyncpg's 60 s
    # A path that needs no key answers as ever, with a key the database cannot check
    # (Prometheus scraping /metrics with a bearer token).
    for path in ("/healthz", "/metrics"):
        async with tenant.session.get(
            tenant.base + path, headers={"Authorization": f"Bearer {tenant.key}"}
        ) as rsp:
            assert rsp.status == 200, (path, await rsp.text())

    await proxy.heal()

    async def answers_again() -> bool:
        return (await tenant.call("POST", "/v2/event/publish", event))[0] == 202

    await eventually(answers_again, timeout_s=30)
