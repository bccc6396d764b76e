"""Tests for hookline.deliverer.transport: one request, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from aiohttp import web
from aiohttp.resolver import DefaultResolver

from hookline.deliverer import transport
from hookline.deliverer.request import Request


class Target:
    """Answers each path its own way and keeps the headers of every request."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.seen.append({**headers, "peer": str(peer)})
        await request.read()
        if request.path == "/cookie":
            rsp = web.Response(text="ok")
            rsp.set_cookie("session", "tenant-a-secret")
            return rsp
        if request.path == "/redirect":
            raise web.HTTPFound("/elsewhere")
        if request.path == "/large":
            return web.Response(body=b"x" * (3 * transport.BODY_KEPT))
        return web.Response(text="ok")


@pytest_asyncio.fixture
async def target() -> AsyncIterator[tuple[Target, str]]:
    found = Target()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", found.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield found, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _request(url: str) -> Request:
    return Request(url, {"content-type": "application/json", "user-agent": "Hookline/0.1"}, b"{}")


async def test_a_cookie_set_by_a_target_is_never_sent_again(target: tuple[Target, str]) -> None:
    found, base = target
    named = base.replace("127.0.0.1", "localhost")  # a jar keeps no cookie of an IP address
    http = transport.session(DefaultResolver(), 4)
    try:
        first = await transport.send(http, _request(f"{named}/cookie"), 5)
        second = await transport.send(http, _request(f"{named}/plain"), 5)
    finally:
        await http.close()
    assert (first.status, second.status) == (200, 200)
    assert "cookie" not in found.seen[1]


async def test_no_compressed_answer_is_asked_for(target: tuple[Target, str]) -> None:
    found, base = target
    http = transport.session(DefaultResolver(), 4)
    try:
        answer = await transport.send(http, _request(f"{base}/plain"), 5)
    finally:
        await http.close()
    assert answer.status == 200
    assert "accept-encoding" not in found.seen[0]
    assert found.seen[0]["user-agent"] == "Hookline/0.1"


async def test_a_redirect_is_not_followed_and_the_body_is_capped(
    target: tuple[Target, str],
) -> None:
    found, base = target
    http = transport.session(DefaultResolver(), 4)
    try:
        moved = await transport.send(http, _request(f"{base}/redirect"), 5)
        large = await transport.send(http, _request(f"{base}/large"), 5)
    finally:
        await http.close()
    assert moved.status == 302
    assert [s.get("host", "").split(":")[0] for s in found.seen] == ["127.0.0.1"] * 2
    assert large.status == 200 and large.body == "x" * transport.BODY_KEPT


async def test_connections_are_kept_alive_between_requests(target: tuple[Target, str]) -> None:
    found, base = target
    http = transport.session(DefaultResolver(), 4)
    try:
        for _ in range(5):
            assert (await transport.send(http, _request(f"{base}/plain"), 5)).status == 200
    finally:
        await http.close()
    assert len({seen["peer"] for seen in found.seen}) == 1  # one client port: one connection
