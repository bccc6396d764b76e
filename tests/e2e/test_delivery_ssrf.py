"""SSRF at connect time: subscriptions made while private targets were allowed get no
request once the guard is turned on, whatever their target's IP literal.

On a stack of its own, the API and the deliverer allow private targets (the receiver
is on 127.0.0.1). The subscriptions are made that way; then the deliverer is restarted with
``HOOKLINE_ALLOW_PRIVATE_TARGETS=0``, as an operator turning the guard on would. aiohttp
never asks the resolver about an IP literal, so before the guard each of these reached
the receiver listening on 127.0.0.1 and ::1.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from support.client import Api
from support.scripted import attempts, eventually, publish, subscribe
from support.stack import Stack, own_stack

HOSTS = ["127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0"]


class _Listener:
    """Answers 200 on 127.0.0.1 and, where there is IPv6, on ::1, on one port."""

    def __init__(self) -> None:
        self.requests = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if socket.has_ipv6:
            with contextlib.suppress(OSError):
                await web.TCPSite(self._runner, "::1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.requests += 1
        return web.Response(status=200)


@pytest_asyncio.fixture(loop_scope="session")
async def listener() -> AsyncIterator[_Listener]:
    rcv = _Listener()
    await rcv.start()
    yield rcv
    await rcv.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def own(infra: dict[str, str]) -> AsyncIterator[Stack]:
    """A stack of its own: turning its deliverer's guard on touches no other test's
    deliveries. Everything allows private targets, as the session's stack does."""
    async with own_stack(infra, "hookline_ssrf") as stack:
        yield stack


async def guard_on(stack: Stack) -> None:
    """The deliverer stopped (SIGTERM: it finishes and commits) and started again
    without private targets, as an operator turning the guard on would."""
    deliverer = stack.services["deliverer"]
    deliverer.env["HOOKLINE_ALLOW_PRIVATE_TARGETS"] = "0"
    await asyncio.to_thread(deliverer.kill, signal.SIGTERM)
    deliverer.start()
    await asyncio.to_thread(deliverer.wait_healthy)


@pytest.mark.asyncio(loop_scope="session")
async def test_ip_literal_targets_are_refused_at_every_attempt(
    own: Stack, http: aiohttp.ClientSession, listener: _Listener
) -> None:
    tenant = await _tenant(Api(own.api_url, http, own.admin_token))
    subs = [await subscribe(tenant, f"http://{h}:{listener.port}/hook") for h in HOSTS]
    await guard_on(own)
    await publish(tenant, [1])

    async def refused_everywhere() -> list[dict[str, object]]:
        found = [(await attempts(tenant, s["id"]))["values"] for s in subs]
        return [a[0] for a in found] if all(found) else []

    first = await eventually(refused_everywhere, 30, "an attempt per subscription")
    for attempt, host in zip(first, HOSTS, strict=True):
        assert attempt["outcome"] == "REFUSED", (host, attempt)
        assert str(attempt["reason"]).startswith("target not allowed: "), (host, attempt)
        assert attempt["status"] is None
    assert listener.requests == 0
    for sub in subs:  # not retried for 30 hours: a dead letter, at once, with the reason
        status, body = await tenant.call("GET", f"/v2/event/subscription/{sub['id']}/deadletters")
        assert status == 200 and body["count"] == 1, body
        assert body["values"][0]["lastError"].startswith("target not allowed: ")


async def _tenant(admin: Api) -> Api:
    status, body = await admin.call(
        "POST", "/v2/admin/tenants", {"name": f"ssrf-{secrets.token_hex(3)}"}
    )
    assert status == 201, body
    return admin.as_key(body["value"]["apiKey"])
